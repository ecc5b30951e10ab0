"""`cnai bench`: the figures the project promises, measured (never asserted in unit tests)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from modules.local.paths import LocalPaths
from modules.local.runtime import LocalRuntime
from modules.spec import list_envs, load_spec


def timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def bench_spec_check(rounds: int = 20) -> float:
    """Seconds to load and validate all environments once (mean of `rounds`, imports excluded)."""
    envs = list_envs()
    load_spec(envs[0])  # warm: imports and first-use caches
    return sum(timed(lambda: [load_spec(e) for e in envs]) for _ in range(rounds)) / rounds


def bench_local(console: Console, with_smoke: bool) -> dict[str, float]:
    """Cold up (fresh state), warm no-op up, RSS, down, up over existing state, and the smoke suite."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cnai-bench-") as home:
        runtime = LocalRuntime(load_spec("local"), LocalPaths(Path(home), LocalPaths.from_env().venvs_root), console)
        runtime.setup()  # first install is not part of the figures
        figures["cold_up_s"] = timed(runtime.up)
        figures["warm_up_noop_s"] = timed(runtime.up)
        figures["rss_mb"] = sum(p.memory_info().rss for p in runtime.processes()) / 1e6
        figures["down_s"] = timed(runtime.down)
        figures["up_existing_state_s"] = timed(runtime.up)
        if with_smoke:
            from smoke_tests.runner import run_smoke

            out = Path(home) / "smoke"
            figures["smoke_suite_s"] = timed(lambda: run_smoke("local", runtime.paths.endpoints, out, ["-q"]))
        runtime.down()
    return figures


def bench_platform(env: str = "prod", rounds: int = 5) -> dict[str, float]:
    """The platform program under Pulumi mocks (no engine) and `render`, each for one environment."""
    import pulumi

    from modules.k8s.render import rendered_files

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
            return {}

    def program() -> None:
        import pulumi_kubernetes as k8s

        from modules.k8s.platform import deploy_platform

        pulumi.runtime.set_mocks(Mocks(), project="cnai-platform", stack=env, preview=False)
        pulumi.runtime.test(lambda: deploy_platform(load_spec(env), k8s.Provider("k8s")))()

    program()  # warm: imports
    spec = load_spec(env)
    return {
        "platform_program_prod_s": sum(timed(program) for _ in range(rounds)) / rounds,
        "render_prod_s": sum(timed(lambda: rendered_files(spec)) for _ in range(rounds)) / rounds,
    }


def bench_synth(rounds: int = 3) -> dict[str, float]:
    """cdktn synth of each cloud environment: the first (jsii runtime start, provider import) and warm
    ones in the same process, plus peak memory of Python and its jsii node process together."""
    import psutil

    from modules.cloud.stack import synth

    figures: dict[str, float] = {}
    me, peak = psutil.Process(), 0.0

    def rss() -> float:
        return sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) / 1e6

    with tempfile.TemporaryDirectory(prefix="cnai-synth-") as folder:
        out, state = Path(folder) / "out", Path(folder) / "state"
        for env in ("dev", "prod"):
            spec = load_spec(env)
            figures[f"synth_{env}_first_s"] = timed(lambda spec=spec: synth(spec, out, state))
            peak = max(peak, rss())
            figures[f"synth_{env}_warm_s"] = (
                sum(timed(lambda spec=spec: synth(spec, out, state)) for _ in range(rounds)) / rounds
            )
            peak = max(peak, rss())
    figures["synth_peak_rss_mb"] = peak
    return figures


TARGETS = {
    "spec_check_all_envs_s": ("spec check, every environment", 0.5),
    "platform_program_prod_s": ("prod platform program under mocks", 3),
    "render_prod_s": ("render prod", 3),
    "synth_dev_first_s": ("synth dev (eks), first in process", None),
    "synth_dev_warm_s": ("synth dev (eks), warm", 5),
    "synth_prod_first_s": ("synth prod (gke), first in process", None),
    "synth_prod_warm_s": ("synth prod (gke), warm", 5),
    "synth_peak_rss_mb": ("synth peak RSS, python + jsii node (MB)", None),
    "cold_up_s": ("local cold up to all healthy", 15),
    "warm_up_noop_s": ("local warm up (no-op)", 2),
    "rss_mb": ("local stack RSS (MB)", 1500),
    "down_s": ("local down", None),
    "up_existing_state_s": ("local up over existing state", 15),
    "smoke_suite_s": ("smoke suite against local", 90),
}


def run_bench(out: Path, console: Console, with_smoke: bool = True) -> dict[str, float]:
    figures = {
        "spec_check_all_envs_s": bench_spec_check(),
        **bench_platform(),
        **bench_synth(),
        **bench_local(console, with_smoke),
    }
    table = Table("figure", "measured", "target")
    for key, value in figures.items():
        label, target = TARGETS[key]
        within = target is None or value <= target
        shown = f"{value:.3f}" if value < 10 else f"{value:.1f}"
        table.add_row(label, f"[{'green' if within else 'red'}]{shown}[/]", "-" if target is None else f"<= {target}")
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return figures
