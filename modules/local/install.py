"""First-install steps of the local environment: one virtualenv per server, Prometheus from Debian."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from modules.local.paths import LocalPaths
from modules.versions import bom, local_server_packages

READY_MARKER = ".cnai-ready"


class InstallError(Exception):
    """A server's software could not be installed; the message says what to do."""


def venv_ready(paths: LocalPaths, component: str) -> bool:
    return (paths.venv(component) / READY_MARKER).is_file()


def ensure_venv(paths: LocalPaths, component: str, console: Console) -> Path:
    """Create the server's virtualenv with its pinned packages, once; reuse it afterwards."""
    venv = paths.venv(component)
    if venv_ready(paths, component):
        return venv
    packages = local_server_packages(component)
    with console.status(f"installing {component} ({', '.join(packages)}) into {venv} - first time only"):
        if venv.exists():
            shutil.rmtree(venv)  # a half-made venv from an interrupted install
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        result = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *packages],
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        raise InstallError(f"pip could not install {component} ({' '.join(packages)}):\n{result.stderr[-2000:]}")
    (venv / READY_MARKER).write_text("\n".join(packages) + "\n")
    console.print(f"[green]installed[/] {component} into {venv}")
    return venv


def prometheus_binary(console: Console, install: bool = True) -> str:
    """The Prometheus binary, installed from Debian's package when missing and we are root."""
    found = shutil.which("prometheus")
    if found:
        return found
    package = bom()["local_servers"]["prometheus"]["debian_package"]
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise InstallError(f"prometheus is not installed: run `sudo apt-get install -y {package}`")
    with console.status(f"installing {package} from Debian - first time only"):
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
            result = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise InstallError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    found = shutil.which("prometheus")
    if not found:
        raise InstallError(f"{package} installed but no prometheus binary on PATH")
    return found
