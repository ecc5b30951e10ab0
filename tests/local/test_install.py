"""First install of the local servers: side by side, a clear failure naming the server, the package and
the log, and a retry of only what failed. Real uv against the real package index."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from rich.console import Console

from modules.local import install
from modules.local.install import InstallError, ensure_venv, install_all, install_log, venv_ready
from modules.local.paths import LocalPaths

MISSING = "cnai-no-such-package-anywhere==0.0.1"
SMALL = "six==1.17.0"


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(home=tmp_path / "home", venvs_root=tmp_path / "venvs")


@pytest.fixture
def packages(monkeypatch):
    """Stand-in package lists per server: one that installs, one that cannot exist."""
    pins = {"good": [SMALL], "bad": [MISSING]}
    monkeypatch.setattr(install, "local_server_packages", lambda component: pins[component])
    monkeypatch.setattr("modules.local.paths.local_server_packages", lambda component: pins[component])
    return pins


def test_a_failed_install_names_server_package_and_log_and_only_it_is_retried(paths, packages):
    steps = {name: partial(ensure_venv, paths, name) for name in ("good", "bad")}
    with pytest.raises(InstallError) as info:
        install_all(steps, Console(quiet=True))
    message = str(info.value)
    assert "could not install bad" in message and MISSING.split("==")[0] in message
    assert str(install_log(paths, "bad")) in message and install_log(paths, "bad").is_file()
    assert venv_ready(paths, "good") and not venv_ready(paths, "bad")
    assert ensure_venv(paths, "good").seconds == 0.0, "a finished install is not repeated"
    assert (paths.venv("good") / "lib").is_dir()
