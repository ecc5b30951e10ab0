"""The `cnai` command line: one verb per step of an environment's life."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.table import Table

from modules.local.install import InstallError
from modules.local.paths import LocalPaths
from modules.local.runtime import LocalError, LocalRuntime
from modules.local.stack import component_states
from modules.spec import SpecInvalid, list_blueprints, list_envs, load_spec
from modules.spec.reference import spec_reference

app = typer.Typer(no_args_is_help=True, add_completion=False, help="cnai - cloud-native AI platform.")
spec_app = typer.Typer(no_args_is_help=True, help="Inspect and validate environment specs.")
app.add_typer(spec_app, name="spec")
console = Console()
err_console = Console(stderr=True)

EnvArg = Annotated[str, typer.Argument(help="environment name (stacks/platform/Pulumi.<env>.yaml)")]


class UserError(Exception):
    """A mistake or condition the user can fix; shown without a traceback."""


def print_spec_errors(exc: SpecInvalid) -> None:
    err_console.print(f"[bold red]{exc.source}: {len(exc.errors)} problem(s)[/]")
    for error in exc.errors:
        err_console.print(f"  [red]x[/] {error}", markup=False, highlight=False)


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user-facing errors into a message and exit code 1 instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecInvalid as exc:
            print_spec_errors(exc)
            raise typer.Exit(1) from None
        except (UserError, LocalError, InstallError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None

    return wrapper


def not_landed(verb: str, issue: str) -> NoReturn:
    err_console.print(f"[yellow]`cnai {verb}` is not built yet: it arrives with {issue}. Nothing was done.[/]")
    raise typer.Exit(2)


@app.command()
def envs() -> None:
    """List environments and blueprints."""
    table = Table("environment", "blueprint", "target", "GPU pools", "valid")
    for env in list_envs():
        try:
            spec = load_spec(env)
            pools = ", ".join(f"{p.name} ({p.accelerator})" for p in spec.gpu_pools) or "-"
            table.add_row(env, spec.blueprint, spec.cluster.target, pools, "[green]yes[/]")
        except SpecInvalid as exc:
            table.add_row(env, "?", "?", "?", f"[red]{len(exc.errors)} problem(s)[/]")
    console.print(table)
    console.print(f"blueprints: {', '.join(list_blueprints())}")


@spec_app.command("show")
@friendly
def spec_show(env: EnvArg) -> None:
    """Print the merged, validated spec as YAML."""
    spec = load_spec(env)
    sys.stdout.write(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))


@spec_app.command("check")
def spec_check(
    environments: Annotated[list[str] | None, typer.Argument(help="default: all environments")] = None,
) -> None:
    """Validate environments; exit 1 listing every problem."""
    failed = False
    for env in environments or list_envs():
        try:
            load_spec(env)
            console.print(f"[green]ok[/] {env}")
        except SpecInvalid as exc:
            print_spec_errors(exc)
            failed = True
    raise typer.Exit(1 if failed else 0)


@spec_app.command("docs")
def spec_docs(
    out: Annotated[Path, typer.Option(help="where to write the reference")] = Path("docs/spec.md"),
) -> None:
    """Regenerate the spec reference (docs/spec.md) from the models."""
    out.write_text(spec_reference())
    console.print(f"wrote {out}")


@app.command()
@friendly
def render(
    env: EnvArg = "dev",
    out: Annotated[Path | None, typer.Option(help="default: rendered/<env>")] = None,
) -> None:
    """Render the Kubernetes objects cnai authors and its Helm releases (chart, version, values) to YAML.

    Covers the security baseline, GPU Operator and Kueue today; KServe, MLflow, Milvus, object
    storage and observability arrive with the cluster-platform issues (#4, #5).
    """
    from modules.k8s.render import rendered_files

    spec = load_spec(env)
    if not spec.is_cluster:
        raise UserError(f"{env} runs no cluster (target {spec.cluster.target}): nothing to render")
    target = out or Path("rendered") / env
    target.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_files(spec).items():
        (target / name).write_text(text)
        console.print(f"wrote {target / name}")


@app.command()
def synth(env: EnvArg = "dev") -> None:
    """Synthesize an environment's cloud stack (cdktn -> Terraform JSON)."""
    not_landed("synth", "the cloud-clusters issue (#6)")


def _local_runtime(env: str) -> LocalRuntime:
    spec = load_spec(env)
    if spec.is_cluster:
        not_landed(f"up/down {env}", "the cluster-environments issue (#9); `cnai up local` works today")
    return LocalRuntime(spec, LocalPaths.from_env(env))


def _status_table(runtime: LocalRuntime) -> Table:
    table = Table("server", "component", "state", "pid", "health", "url")
    for status in runtime.status():
        health = "[green]healthy[/]" if status.healthy else "[red]unhealthy[/]"
        table.add_row(status.name, status.component, status.state, str(status.pid), health, status.url)
    for name, state in component_states(runtime.spec).items():
        if state != "enabled":
            table.add_row("-", name, state, "-", "-", "-")
    return table


@app.command()
@friendly
def setup(env: EnvArg = "local") -> None:
    """Install the environment's server software once (virtualenvs, Prometheus)."""
    _local_runtime(env).setup()
    console.print("[green]ready[/]")


@app.command()
@friendly
def up(env: EnvArg = "local") -> None:
    """Bring an environment up and print its endpoints."""
    runtime = _local_runtime(env)
    start = time.monotonic()
    runtime.up()
    console.print(_status_table(runtime))
    console.print(f"up in {time.monotonic() - start:.1f}s - endpoints: {runtime.paths.endpoints}")


@app.command()
@friendly
def down(
    env: EnvArg = "local",
    purge: Annotated[bool, typer.Option(help="also delete all data in the state directory")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask before --purge")] = False,
) -> None:
    """Stop an environment; data persists unless --purge."""
    runtime = _local_runtime(env)
    if purge:
        console.print(f"--purge deletes {runtime.paths.home}: runs, models, objects, vectors, metrics, credentials.")
        if not yes and not typer.confirm("delete it?"):
            raise typer.Exit(1)
        runtime.purge()
        console.print(f"[green]stopped and deleted[/] {runtime.paths.home}")
        return
    stopped = runtime.down()
    console.print("[green]stopped[/] (data kept)" if stopped else "nothing was running")


@app.command()
@friendly
def status(env: EnvArg = "local") -> None:
    """Show what is running and whether it is healthy."""
    runtime = _local_runtime(env)
    if not runtime.supervisor.is_running():
        console.print(f"{env} is down")
        raise typer.Exit(3)
    console.print(_status_table(runtime))


@app.command()
@friendly
def endpoints(env: EnvArg = "local") -> None:
    """Print the endpoints document of a running environment as JSON."""
    path = LocalPaths.from_env(env).endpoints
    if not path.is_file():
        raise UserError(f"{env} is not up (no {path}): run `cnai up {env}`")
    sys.stdout.write(path.read_text())


@app.command()
@friendly
def serve(
    env: EnvArg,
    model_uri: Annotated[str, typer.Argument(help="e.g. models:/smoke-mlp/1")],
    name: Annotated[str, typer.Option(help="name the model is served under")] = "",
) -> None:
    """Serve a registered MLflow model on the environment's model server (OIP v2)."""
    model_name = name or model_uri.split("/")[1]
    _local_runtime(env).serve(model_name, model_uri)
    console.print(f"[green]serving[/] {model_uri} as {model_name}")


@app.command()
@friendly
def smoke(
    env: EnvArg = "local",
    out: Annotated[Path, typer.Option(help="report directory")] = Path("reports/smoke"),
) -> None:
    """Run the smoke suite against a running environment; exit 0 only if every check passed."""
    from smoke_tests.runner import run_smoke  # torch and friends: only for this verb

    spec = load_spec(env)
    if spec.is_cluster:
        not_landed(f"smoke {env}", "the cluster-environments issue (#9): the endpoints come from the Pulumi stack")
    endpoints_path = LocalPaths.from_env(env).endpoints
    if not endpoints_path.is_file():
        raise UserError(f"{env} is not up (no {endpoints_path}): run `cnai up {env}` first")
    code, report = run_smoke(env, endpoints_path, out)
    table = Table("check", "outcome", "message")
    for check in report["checks"]:
        color = {"passed": "green", "failed": "red", "skipped": "yellow"}[check["outcome"]]
        table.add_row(check["name"], f"[{color}]{check['outcome']}[/]", check["message"][:80])
    console.print(table)
    s = report["summary"]
    console.print(f"{s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped - report: {out / 'report.html'}")
    raise typer.Exit(code)


@app.command()
@friendly
def bench(
    out: Annotated[Path, typer.Option(help="where the figures are written as JSON")] = Path("reports/bench.json"),
    smoke: Annotated[bool, typer.Option(help="include the smoke suite's wall time")] = True,
) -> None:
    """Measure spec checking, local up/down/RSS and the smoke suite; print the figures."""
    from modules.bench import run_bench

    run_bench(out, console, with_smoke=smoke)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
