"""The `cnai` command line: one verb per step of an environment's life."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from modules.errors import CnaiError
from modules.local.install import InstallError
from modules.local.paths import LocalPaths
from modules.local.runtime import LocalError, LocalRuntime
from modules.local.stack import component_states
from modules.spec import SpecInvalid, list_blueprints, list_envs, load_spec
from modules.spec.errors import MAX_LISTED
from modules.spec.loader import check_name
from modules.spec.models import CLOUD_TARGETS
from modules.spec.reference import spec_reference

app = typer.Typer(no_args_is_help=True, add_completion=False, help="cnai - cloud-native AI platform.")
spec_app = typer.Typer(no_args_is_help=True, help="Inspect and validate environment specs.")
app.add_typer(spec_app, name="spec")
nodes_app = typer.Typer(no_args_is_help=True, help="Bare-metal GPU nodes: Ansible inventory and playbook.")
app.add_typer(nodes_app, name="nodes")
charts_app = typer.Typer(no_args_is_help=True, help="The pinned Helm charts, unpacked for offline checks.")
app.add_typer(charts_app, name="charts")
console = Console()
err_console = Console(stderr=True)

EnvArg = Annotated[str, typer.Argument(help="environment name (stacks/platform/Pulumi.<env>.yaml)")]

# Exit codes (docs/troubleshooting.md#exit-codes): 0 done; 1 the input is invalid (a spec, an environment name, a verb
# that does not apply to the environment); 2 usage (typer: unknown option, missing argument); 3 the
# operation failed or was refused at run time (a server, a tool, an external command, an environment
# that is not up or is protected). Anything else is a bug and keeps its traceback.
EXIT_INVALID = 1
EXIT_RUNTIME = 3


class UserError(Exception):
    """The input asks for something that does not apply (exit 1); shown without a traceback."""


def print_spec_errors(exc: SpecInvalid) -> None:
    err_console.print(f"[bold red]{escape(exc.source)}: {len(exc.errors)} problem(s)[/]", highlight=False)
    for error in exc.errors[:MAX_LISTED]:
        err_console.print(f"  [red]x[/] {escape(str(error))}", highlight=False)
    if len(exc.errors) > MAX_LISTED:
        err_console.print(f"  ... and {len(exc.errors) - MAX_LISTED} more", highlight=False)


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user-facing errors into a message and an exit code (1 invalid input, 3 runtime) instead of a
    traceback. An `env` argument is checked first: it names files and folders."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if "env" in kwargs:
                check_name("environment", kwargs["env"])
            return func(*args, **kwargs)
        except SpecInvalid as exc:
            print_spec_errors(exc)
            raise typer.Exit(EXIT_INVALID) from None
        except UserError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_INVALID) from None
        except (LocalError, InstallError, CnaiError) as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_RUNTIME) from None

    return wrapper


@app.command()
def envs() -> None:
    """List environments and blueprints."""
    table = Table("environment", "blueprint", "target", "GPU pools", "valid")
    for env in list_envs():
        try:
            spec = load_spec(env)
            pools = ", ".join(f"{p.name} ({p.accelerator})" for p in spec.gpu_pools) or "-"
            table.add_row(env, spec.blueprint, spec.cluster.target, escape(pools), "[green]yes[/]")
        except SpecInvalid as exc:
            table.add_row(escape(env), "?", "?", "?", f"[red]{len(exc.errors)} problem(s)[/]")
    console.print(table)
    console.print(f"blueprints: {escape(', '.join(list_blueprints()))}", highlight=False)


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
    """Validate environments; exit 1 listing every problem (one broken environment does not stop the rest)."""
    failed = False
    for env in environments or list_envs():
        try:
            spec = load_spec(env)
            if spec.cluster.target in CLOUD_TARGETS:  # cnai picks the machines: its workloads must fit them
                from modules.components.fit import fit_errors

                if misfits := fit_errors(spec):
                    raise SpecInvalid(env, misfits)
            console.print(f"[green]ok[/] {escape(env)}", highlight=False)
        except SpecInvalid as exc:
            print_spec_errors(exc)
            failed = True
    raise typer.Exit(EXIT_INVALID if failed else 0)


@spec_app.command("docs")
def spec_docs(
    out: Annotated[Path, typer.Option(help="where to write the reference")] = Path("docs/spec.md"),
) -> None:
    """Regenerate the spec reference (docs/spec.md) from the models."""
    out.write_text(spec_reference())
    console.print(f"wrote {out}")


def _node_inventory_yaml(env: str) -> str:
    from modules.nodes.inventory import node_inventory

    spec = load_spec(env)
    if not any(pool.hosts for pool in spec.gpu_pools):
        raise UserError(f"{env} declares no bare-metal hosts (gpu_pools[].hosts, target existing)")
    return yaml.safe_dump(node_inventory(spec), sort_keys=False)


@nodes_app.command("inventory")
@friendly
def nodes_inventory(
    env: EnvArg,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """The Ansible inventory of ENV's bare-metal GPU nodes: one group per pool, its labels, taints, versions."""
    text = _node_inventory_yaml(env)
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    err_console.print(f"wrote {out}")


@nodes_app.command("apply", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@friendly
def nodes_apply(
    ctx: typer.Context,
    env: EnvArg,
    inventory: Annotated[
        list[Path] | None, typer.Option(help="more inventory (connection settings, host vars), applied after ENV's")
    ] = None,
) -> None:
    """Run modules/nodes/site.yml on ENV's bare-metal nodes; extra arguments go to ansible-playbook."""
    from modules.nodes.inventory import PLAYBOOK

    if shutil.which("ansible-playbook") is None:
        raise CnaiError("ansible-playbook not found: pip install 'cnai[nodes]'")
    generated = LocalPaths.from_env(env).home / "nodes-inventory.yml"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(_node_inventory_yaml(env))
    sources = [generated, *(inventory or [])]
    command = ["ansible-playbook", *(f"--inventory={p}" for p in sources), str(PLAYBOOK), *ctx.args]
    raise typer.Exit(subprocess.run(command, check=False).returncode)


@charts_app.command("pull")
@friendly
def charts_pull(
    names: Annotated[list[str] | None, typer.Argument(help="BOM chart names (default: all)")] = None,
) -> None:
    """Fetch the BOM's charts at their pinned versions into the charts folder (needs the helm that
    `cnai setup sim` builds, and the charts' repositories)."""
    from modules import gobuild as build
    from modules.sim import charts
    from modules.versions import bom

    build.ensure_built(err_console, only=["helm"])
    into = charts.charts_dir()
    for name in names or list(bom()["helm_charts"]):
        console.print(f"{name}: {charts.pull(str(build.path_of('helm')), name, into)}")


@app.command()
@friendly
def render(
    env: EnvArg = "dev",
    out: Annotated[Path | None, typer.Option(help="default: rendered/<env>")] = None,
) -> None:
    """Render the Kubernetes objects cnai authors and its Helm releases (chart, version, values) to YAML.

    Every enabled component: security baseline, GPU Operator, Kueue, KServe, MLflow, Milvus, object
    storage, observability (objects and Helm values, as Pulumi would apply them).
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
@friendly
def synth(
    env: EnvArg = "dev",
    out: Annotated[Path | None, typer.Option(help="output folder (default stacks/cloud/cdktn.out)")] = None,
    local_state: Annotated[
        Path | None, typer.Option(help="keep tofu state in this folder instead of the spec's backend (trials)")
    ] = None,
) -> None:
    """Synthesize an environment's cloud stack (cdktn -> OpenTofu/Terraform JSON)."""
    path = synthesize(env, out, local_state)
    console.print(f"[green]wrote[/] {path}")
    console.print(f"next: tofu -chdir={path.parent} init && tofu -chdir={path.parent} apply  (docs/cloud.md)")


def synthesize(env: str, out: Path | None, local_state: Path | None) -> Path:
    spec = load_spec(env)
    if spec.cluster.target not in CLOUD_TARGETS:
        raise UserError(f"{env} has no cloud stack: cluster.target is {spec.cluster.target} (eks and gke have one)")
    with console.status(f"synthesizing {env} ({spec.cluster.target}, cdktn)"):
        from modules.cloud.stack import OUTDIR, synth

        return synth(spec, out or OUTDIR, local_state)


def _local_runtime(env: str) -> LocalRuntime:
    spec = load_spec(env)
    if spec.is_cluster:
        raise UserError(f"{env} is a cluster environment (target {spec.cluster.target}): this verb is for local")
    return LocalRuntime(spec, LocalPaths.from_env(env))


def _lifecycle(env: str, yes: bool) -> Any:
    """The cluster lifecycle of an environment; asks before changing infrastructure unless --yes."""
    from modules.cluster.lifecycle import Lifecycle
    from modules.cluster.paths import ClusterPaths

    def confirm(question: str) -> bool:
        return yes or typer.confirm(question, default=False)

    return Lifecycle(load_spec(env), ClusterPaths.from_env(env), console=console, confirm=confirm)


@app.command()
@friendly
def doctor(
    env: EnvArg,
    as_json: Annotated[bool, typer.Option("--json", help="findings as JSON")] = False,
) -> None:
    """Preflight a cluster environment: tools, credentials, state backend, Pulumi stack, quotas, driver."""
    from modules.cluster.doctor import as_json as findings_json
    from modules.cluster.doctor import diagnose, failed
    from modules.cluster.paths import ClusterPaths
    from modules.cluster.tools import Shell

    findings = diagnose(env, Shell(), ClusterPaths.from_env(env))
    if as_json:
        sys.stdout.write(findings_json(findings) + "\n")
    else:
        table = Table("check", "result", "detail", "fix")
        colors = {"ok": "green", "warn": "yellow", "fail": "red"}
        for f in findings:
            table.add_row(escape(f.check), f"[{colors[f.level]}]{f.level}[/]", escape(f.detail), escape(f.fix))
        console.print(table)
    if not failed(findings):
        raise typer.Exit(0)
    spec_failed = any(f.check == "spec" and f.level == "fail" for f in findings)
    raise typer.Exit(EXIT_INVALID if spec_failed else EXIT_RUNTIME)


def _status_table(runtime: LocalRuntime) -> Table:
    table = Table("server", "component", "state", "pid", "health", "url")
    for status in runtime.status():
        health = "[green]healthy[/]" if status.healthy else "[red]unhealthy[/]"
        table.add_row(status.name, status.component, status.state, str(status.pid), health, status.url)
    for name, state in component_states(runtime.spec).items():
        if state != "enabled":
            table.add_row("-", name, state, "-", "-", "-")
    return table


SIM = "sim"  # the sim control plane (docs/sim.md): node groups of dev and prod, no stack file of its own


def _sim_smoke(out: Path) -> tuple[int, dict[str, Any]]:
    """The cluster smoke run on the running sim, for each environment it emulates."""
    from modules.sim.runtime import SimRuntime
    from modules.sim.smoke import run_smoke as sim_smoke

    runtime = SimRuntime.running(console=err_console)
    report = sim_smoke(runtime.client(), runtime.specs, out, err_console)
    return (1 if report["summary"]["failed"] else 0), report


def _sim(verb: str, *options: str) -> None:
    """setup / up / down / status of the sim control plane (modules/sim)."""
    from modules.sim.__main__ import main as sim_main

    if sim_main([verb, *options]) != 0:
        raise typer.Exit(EXIT_RUNTIME)


@app.command()
@friendly
def setup(env: EnvArg = "local") -> None:
    """Install the environment's server software once (virtualenvs, Prometheus)."""
    if env == SIM:
        return _sim("setup")
    _local_runtime(env).setup()
    console.print("[green]ready[/]")


@app.command()
@friendly
def up(
    env: EnvArg = "local",
    yes: Annotated[bool, typer.Option("--yes", help="apply the cloud plan without asking")] = False,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform", metavar="ENV", help="sim only: then deploy ENV's platform (existing cluster) with pulumi up"
        ),
    ] = None,
) -> None:
    """Bring an environment up: local processes, or doctor -> cluster -> platform -> smoke for clusters."""
    if env == SIM:
        return _sim("up", *(["--platform", platform] if platform else []))
    if platform:
        err_console.print(f"--platform is for the sim: `cnai up sim --platform {platform}`")
        raise typer.Exit(EXIT_INVALID)
    if load_spec(env).is_cluster:
        report = _lifecycle(env, yes).up()
        console.print(f"[green]{env} is up and verified[/] - smoke report: {report}")
        return
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
    yes: Annotated[bool, typer.Option("--yes", help="do not ask before deleting")] = False,
    allow_protected: Annotated[
        bool, typer.Option("--allow-protected", help="destroy an environment with cluster.protect: true")
    ] = False,
) -> None:
    """Stop an environment (local: data persists unless --purge); destroy a cluster environment."""
    if env == SIM:
        return _sim("purge" if purge else "down")
    if load_spec(env).is_cluster:
        _lifecycle(env, yes).down(allow_protected=allow_protected)
        console.print(f"[green]{env} destroyed[/]")
        return
    runtime = _local_runtime(env)
    if purge:
        console.print(f"--purge deletes {runtime.paths.home}: runs, models, objects, vectors, metrics, credentials.")
        if not yes and not typer.confirm("delete it?"):
            err_console.print("not confirmed: nothing deleted")
            raise typer.Exit(EXIT_RUNTIME)
        runtime.purge()
        console.print(f"[green]stopped and deleted[/] {runtime.paths.home}")
        return
    stopped = runtime.down()
    console.print("[green]stopped[/] (data kept)" if stopped else "nothing was running")


@app.command()
@friendly
def status(env: EnvArg = "local") -> None:
    """Local: what runs and whether it is healthy. Cluster: steps done, drift from the BOM, last smoke."""
    if env == SIM:
        return _sim("status")
    if load_spec(env).is_cluster:
        console.print_json(json.dumps(_lifecycle(env, yes=False).status()))
        return
    runtime = _local_runtime(env)
    if not runtime.supervisor.is_running():
        if runtime.orphans():
            console.print(_status_table(runtime))
            console.print(
                f"[yellow]{env}'s supervisord is dead[/] but these servers still run unsupervised: "
                f"`cnai up {env}` restarts them under supervision, `cnai down {env}` stops them"
            )
        else:
            console.print(f"{env} is down")
        raise typer.Exit(EXIT_RUNTIME)
    console.print(_status_table(runtime))
    if problem := runtime.disk_problem():
        err_console.print(f"[bold red]data disk full:[/] {escape(problem)}")
        raise typer.Exit(EXIT_RUNTIME)


@app.command()
@friendly
def endpoints(env: EnvArg = "local") -> None:
    """Print the endpoints document of a running environment as JSON."""
    path = LocalPaths.from_env(env).endpoints
    if not path.is_file():
        raise CnaiError(f"{env} is not up (no {path}): run `cnai up {env}`")
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

    if env == SIM:
        code, report = _sim_smoke(out)
    elif load_spec(env).is_cluster:
        lifecycle = _lifecycle(env, yes=False)
        lifecycle.run_smoke()
        console.print(f"smoke report: {lifecycle.paths.report}")
        return
    else:
        endpoints_path = LocalPaths.from_env(env).endpoints
        if not endpoints_path.is_file():
            raise CnaiError(f"{env} is not up (no {endpoints_path}): run `cnai up {env}` first")
        code, report = run_smoke(env, endpoints_path, out)
    table = Table(Column("check", overflow="fold"), "outcome", "message")
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
    first_run: Annotated[
        bool, typer.Option(help="also time README command 1 on a fresh HOME, package cache warm and cold (minutes)")
    ] = False,
) -> None:
    """Measure spec checking, local up/down/RSS, the smoke suite and the first run; print the figures."""
    from modules.bench import run_bench

    run_bench(out, console, with_smoke=smoke, first_run=first_run)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
