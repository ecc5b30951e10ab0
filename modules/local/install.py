"""First-install steps of the local environment: one virtualenv per server, Prometheus from Debian, the
OpenTelemetry Collector built from its pinned Go modules (modules/gobuild.py, as the sim's binaries).

The servers' virtualenvs are made by uv, all at once: uv links packages from its cache instead of
copying them, so the model server's torch costs no second download or copy when the project's
environment (also installed by uv) already holds it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from uv import find_uv_bin

from modules import gobuild
from modules.local.paths import LocalPaths
from modules.versions import bom, local_server_packages

READY_MARKER = ".cnai-ready"
LOG_TAIL_LINES = 12


class InstallError(Exception):
    """A server's software could not be installed; the message says what to do."""


@dataclass(frozen=True)
class Installed:
    """What one install step did: its name and how long it took (0 when it was already there)."""

    name: str
    seconds: float


def venv_ready(paths: LocalPaths, component: str) -> bool:
    return (paths.venv(component) / READY_MARKER).is_file()


def install_log(paths: LocalPaths, component: str) -> Path:
    return paths.venvs_root / f"{paths.venv(component).name}.install.log"


def _run_logged(cmd: list[str], log: Path) -> int:
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(cmd)}\n")
        handle.flush()
        return subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT).returncode


def _failure(what: str, packages: list[str], log: Path) -> InstallError:
    tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] if log.is_file() else []
    return InstallError(
        f"could not install {what} ({' '.join(packages)}); the installer said:\n"
        + "\n".join(f"  {line}" for line in tail)
        + f"\nfull log: {log}\nFix the cause and run `cnai up local` again: only what failed is retried."
    )


def ensure_venv(paths: LocalPaths, component: str) -> Installed:
    """Create the server's virtualenv with its pinned packages, once; reuse it afterwards."""
    if venv_ready(paths, component):
        return Installed(component, 0.0)
    began = time.monotonic()
    venv, packages, log = paths.venv(component), local_server_packages(component), install_log(paths, component)
    paths.venvs_root.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    if venv.exists():
        shutil.rmtree(venv)  # a half-made venv from an interrupted or failed install
    uv = find_uv_bin()
    for cmd in (
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"), *packages],
    ):
        if _run_logged(cmd, log) != 0:
            raise _failure(component, packages, log)
    (venv / READY_MARKER).write_text("\n".join(packages) + "\n")
    return Installed(component, time.monotonic() - began)


def prometheus_binary(install: bool = True) -> str:
    """The Prometheus binary, installed from Debian's package when missing and we are root."""
    found = shutil.which("prometheus")
    if found:
        return found
    package = bom()["local_servers"]["prometheus"]["debian_package"]
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise InstallError(f"prometheus is not installed: run `sudo apt-get install -y {package}`")
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "cnai-prometheus.install.log"
    log.unlink(missing_ok=True)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        with log.open("a") as handle:
            if subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env).returncode != 0:
                raise _failure("prometheus", [package], log)
    found = shutil.which("prometheus")
    if not found:
        raise InstallError(f"{package} installed but no prometheus binary on PATH")
    return found


def otelcol_binary(install: bool = True) -> str:
    """The collector, built once per machine into the Go builds' bin folder (a minute or two cold)."""
    path = gobuild.path_of("otelcol")
    if path.is_file():
        return str(path)
    if not install:
        raise InstallError(f"the OpenTelemetry Collector is not built ({path}): run `cnai up local`")
    try:
        gobuild.ensure_built(only=["otelcol"], progress=False)
    except gobuild.GoBuildError as error:
        raise InstallError(f"could not build the OpenTelemetry Collector: {error}") from error
    return str(path)


def install_all(steps: dict[str, Callable[[], object]], console: Console) -> dict[str, object]:
    """Run install steps side by side with a progress line each; every step finishes (or fails) before
    the first failure is raised, so one slow download does not hide another server's error."""
    results: dict[str, object] = {}
    errors: dict[str, BaseException] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress, ThreadPoolExecutor(len(steps) or 1) as pool:

        def run(name: str, task: TaskID) -> None:
            began = time.monotonic()
            try:
                results[name] = steps[name]()
            except InstallError as exc:
                errors[name] = exc
                progress.update(task, completed=1, description=f"[red]{name}: failed[/]")
                return
            seconds = time.monotonic() - began
            progress.update(task, completed=1, description=f"[green]{name}: installed[/] in {seconds:.1f}s")

        futures = [pool.submit(run, name, progress.add_task(f"{name}: {_describe(name)}", total=1)) for name in steps]
        for future in futures:
            future.result()
    if errors:
        raise InstallError("\n".join(str(e) for e in errors.values()))
    return results


def _describe(name: str) -> str:
    entry = bom()["local_servers"].get(name, {})
    if "go_modules" in entry:
        return f"building from Go modules ({gobuild.version('otelcol')}; a minute or two the first time)"
    if "debian_package" in entry:
        return f"apt-get install {entry['debian_package']}"
    return f"installing {', '.join(entry.get('packages', []))}"
