"""`cnai bench`: the figures the project promises, measured (never asserted in unit tests)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from modules.errors import CnaiError
from modules.local.paths import LocalPaths
from modules.local.runtime import LocalRuntime, process_alive
from modules.spec import list_envs, load_spec
from modules.spec.loader import REPO_ROOT


def timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def bench_spec_check(rounds: int = 20) -> float:
    """Seconds to load and validate all environments once (mean of `rounds`, imports excluded)."""
    envs = list_envs()
    load_spec(envs[0])  # warm: imports and first-use caches
    return sum(timed(lambda: [load_spec(e) for e in envs]) for _ in range(rounds)) / rounds


def bench_local(console: Console, with_smoke: bool, rounds: int = 5) -> dict[str, float]:
    """Up over fresh state, warm no-op up, RSS, down, cold up (software installed, servers stopped:
    median of `rounds`), and warm `task up smoke` (no-op up + the suite)."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cnai-bench-") as home:
        runtime = LocalRuntime(load_spec("local"), LocalPaths(Path(home), LocalPaths.from_env().venvs_root), console)
        runtime.setup()  # first install is not part of these figures (see bench_first_run)
        figures["fresh_state_up_s"] = timed(runtime.up)
        figures["warm_up_noop_s"] = timed(runtime.up)
        figures["rss_mb"] = sum(p.memory_info().rss for p in runtime.processes()) / 1e6
        downs, ups = [], []
        for _ in range(rounds):
            downs.append(timed(runtime.down))
            ups.append(timed(runtime.up))
        figures["down_s"] = statistics.median(downs)
        figures["cold_up_median_s"] = statistics.median(ups)
        figures |= bench_recovery(runtime)
        if with_smoke:
            from smoke_tests.runner import run_smoke

            out = Path(home) / "smoke"
            figures["warm_up_smoke_s"] = timed(runtime.up) + timed(
                lambda: run_smoke("local", runtime.paths.endpoints, out, ["-q"])
            )
        runtime.down()
    return figures


def bench_recovery(runtime: LocalRuntime, timeout: float = 120) -> dict[str, float]:
    """Seconds from kill -9 of each server to healthy again under supervisord, and from kill -9 of
    supervisord to every server healthy after `up`."""
    figures: dict[str, float] = {}
    for server in runtime.status():
        began = time.perf_counter()
        os.kill(server.pid, signal.SIGKILL)
        deadline = began + timeout
        while time.perf_counter() < deadline:
            now = next(s for s in runtime.status() if s.name == server.name)
            if now.pid != server.pid and now.healthy:
                break
            time.sleep(0.1)
        figures[f"recovery_{server.name}_s"] = time.perf_counter() - began
    pid = int((runtime.paths.home / "supervisord.pid").read_text())
    began = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    while process_alive(pid):
        time.sleep(0.05)
    runtime.up()
    figures["recovery_supervisord_s"] = time.perf_counter() - began
    return figures


BENCH_SIM_PORT_BASE = 29400  # beside a sim the user has up (26400) and the tests' (27400)


def bench_sim(console: Console) -> dict[str, float]:
    """The sim control plane (when `cnai setup sim` has built it), on ports of its own: a first up over
    fresh state, a warm up after down (the issue's goal: <= 30 s), the RSS of every process, the
    cluster smoke run over the emulated environments, and down."""
    from modules import gobuild as build
    from modules.sim.runtime import SimRuntime
    from modules.sim.servers import SimPaths, SimPorts
    from modules.sim.smoke import run_smoke

    if build.missing():
        console.print("sim binaries not built (`cnai setup sim`): sim figures skipped")
        return {}
    with tempfile.TemporaryDirectory(prefix="cnai-bench-sim-") as home:
        runtime = SimRuntime(paths=SimPaths(Path(home)), ports=SimPorts.from_base(BENCH_SIM_PORT_BASE), console=console)
        figures = {"sim_first_up_s": timed(runtime.up)}
        figures["sim_down_s"] = timed(runtime.down)
        try:
            figures["sim_warm_up_s"] = timed(runtime.up)
            figures["sim_rss_mb"] = runtime.rss_mib()["total"] * 1.048576
            figures["sim_smoke_s"] = timed(
                lambda: run_smoke(runtime.client(), runtime.specs, Path(home) / "smoke", console)
            )
            figures |= bench_sim_platform(runtime, console)
        finally:
            runtime.down()
    return figures


SIM_PLATFORM = "onprem"  # the shipped environment on an existing cluster: its context is pointed at the sim


def bench_sim_platform(runtime: Any, console: Console) -> dict[str, float]:
    """The onprem environment's platform deployed on the running sim by the real Pulumi engine, through
    the lifecycle's steps: the first `up`, a second one and what it changed (0 is the goal), and
    `pulumi destroy`."""
    from modules.sim.pulumi import (
        changes_of_last_update,
        cluster_object_keys,
        deploy,
        deploy_environment,
        destroy,
        leftovers,
    )

    before = cluster_object_keys(runtime.client())
    started = time.monotonic()
    lifecycle = deploy_environment(runtime.paths, SIM_PLATFORM, console)
    figures = {"sim_pulumi_first_up_s": time.monotonic() - started}
    figures["sim_pulumi_second_up_s"] = timed(lambda: deploy(lifecycle, fresh=True))
    changes = changes_of_last_update(lifecycle)
    figures["sim_pulumi_resources"] = sum(changes.values())
    figures["sim_pulumi_second_up_changes"] = sum(n for op, n in changes.items() if op != "same")
    figures["sim_pulumi_destroy_s"] = timed(lambda: destroy(lifecycle))
    figures["sim_pulumi_destroy_leftovers"] = len(leftovers(runtime.client(), before))
    return figures


def bench_first_run(console: Console, cold_cache: bool) -> float:
    """README command 1 as a newcomer runs it: a copy of this checkout, a fresh HOME and no virtualenv,
    with uv's download cache warm (a second machine sharing it) or empty. Raises unless it ends green."""
    readme = subprocess.run([str(REPO_ROOT / ".ci" / "readme-command"), "1"], capture_output=True, text=True)
    command = readme.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="cnai-first-run-") as folder:
        checkout, home = Path(folder) / "cnai", Path(folder) / "home"
        files = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\0")
        for name in filter(None, files):
            if (REPO_ROOT / name).is_file():
                (checkout / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO_ROOT / name, checkout / name)
        home.mkdir()
        cache = Path(folder) / "uv-cache" if cold_cache else Path(os.environ.get("UV_CACHE_DIR", _uv_cache_dir()))
        venv_bin = str(Path(sys.prefix) / "bin")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CNAI_", "VIRTUAL_ENV", "UV_"))}
        env |= {"HOME": str(home), "UV_CACHE_DIR": str(cache)}
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
        label = "cold" if cold_cache else "warm"
        console.print(f"first run, {label} package cache: {command}", markup=False)
        began = time.perf_counter()
        proc = subprocess.run(["bash", "-c", command], cwd=checkout, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - began
        subprocess.run(
            [str(checkout / ".venv" / "bin" / "cnai"), "down", "local"], cwd=checkout, env=env, capture_output=True
        )
        if proc.returncode != 0:
            raise CnaiError(f"first run ({label} cache) ended red after {seconds:.0f}s:\n{proc.stdout[-3000:]}")
    return seconds


def _uv_cache_dir() -> str:
    from uv import find_uv_bin

    return subprocess.run([find_uv_bin(), "cache", "dir"], capture_output=True, text=True, check=True).stdout.strip()


def bench_platform(env: str = "prod", rounds: int = 5) -> dict[str, float]:
    """`cnai render` of one environment: the platform program run under Pulumi mocks (no engine)."""
    from modules.k8s.render import rendered_files

    spec = load_spec(env)
    rendered_files(spec)  # warm: imports
    return {"render_prod_s": sum(timed(lambda: rendered_files(spec)) for _ in range(rounds)) / rounds}


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
    "render_prod_s": ("render prod: the platform program under mocks", 3),
    "synth_dev_first_s": ("synth dev (eks), first in process", None),
    "synth_dev_warm_s": ("synth dev (eks), warm", 5),
    "synth_prod_first_s": ("synth prod (gke), first in process", None),
    "synth_prod_warm_s": ("synth prod (gke), warm", 5),
    "synth_peak_rss_mb": ("synth peak RSS, python + jsii node (MB)", None),
    "fresh_state_up_s": ("local up over a fresh state directory", 15),
    "warm_up_noop_s": ("local warm up (no-op)", 2),
    "rss_mb": ("local stack RSS (MB)", 1500),
    "down_s": ("local down (median)", None),
    "cold_up_median_s": ("local cold up: installed, servers stopped (median of 5)", 10),
    "warm_up_smoke_s": ("warm `task up smoke`: up + smoke suite", 60),
    **{
        f"recovery_{name}_s": (f"kill -9 {name} -> healthy again", None)
        for name in ("object_storage", "mlflow", "model_server", "vector_db", "prometheus", "supervisord")
    },
    "sim_first_up_s": ("sim up over fresh state (dev + prod node groups, Kueue, KServe)", None),
    "sim_down_s": ("sim down", None),
    "sim_warm_up_s": ("sim warm up to ready API server, nodes and controllers", 30),
    "sim_rss_mb": ("sim control plane RSS (MB)", None),
    "sim_smoke_s": ("cnai smoke sim: dev's and prod's objects, InferenceService, every pool's Jobs", None),
    "sim_pulumi_first_up_s": (f"cnai up sim --platform {SIM_PLATFORM}: real pulumi up, wait-ready", None),
    "sim_pulumi_second_up_s": ("a second cnai up of it", None),
    "sim_pulumi_resources": ("Pulumi resources in its stack", None),
    "sim_pulumi_second_up_changes": ("resources the second up changed", 0),
    "sim_pulumi_destroy_s": ("cnai down of it (pulumi destroy)", None),
    "sim_pulumi_destroy_leftovers": ("objects left after destroy", 0),
    "first_run_warm_cache_s": ("README command 1, fresh HOME, warm package cache", 240),
    "first_run_cold_cache_s": ("README command 1, fresh HOME, cold package cache", None),
}


def run_bench(out: Path, console: Console, with_smoke: bool = True, first_run: bool = False) -> dict[str, float]:
    figures = {
        "spec_check_all_envs_s": bench_spec_check(),
        **bench_platform(),
        **bench_synth(),
        **bench_local(console, with_smoke),
        **bench_sim(console),
    }
    if first_run:
        figures["first_run_warm_cache_s"] = bench_first_run(console, cold_cache=False)
        figures["first_run_cold_cache_s"] = bench_first_run(console, cold_cache=True)
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
