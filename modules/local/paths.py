"""Where the local environment keeps its state, logs and server virtualenvs."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from modules.project import environment_home
from modules.versions import local_server_packages


@dataclass(frozen=True)
class LocalPaths:
    """All paths of one local environment; a pure value (nothing is created here)."""

    home: Path
    venvs_root: Path

    @classmethod
    def from_env(cls, env: str = "local") -> LocalPaths:
        venvs = Path(os.environ.get("CNAI_VENVS", Path.home() / ".cache" / "cnai" / "venvs"))
        return cls(home=environment_home(env), venvs_root=venvs)

    def data(self, component: str) -> Path:
        return self.home / "data" / component

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def config(self) -> Path:
        return self.home / "config"

    @property
    def credentials(self) -> Path:
        return self.home / "credentials.json"

    @property
    def endpoints(self) -> Path:
        return self.home / "endpoints.json"

    @property
    def tls(self) -> Path:
        """The CA and certificate the object store's parts use among themselves (modules/local/tls.py)."""
        return self.home / "tls"

    @property
    def lock(self) -> Path:
        return self.home / "lock"

    @property
    def supervisor_socket(self) -> Path:
        return self.home / "supervisor.sock"

    @property
    def supervisor_conf(self) -> Path:
        return self.config / "supervisord.conf"

    @property
    def model_repository(self) -> Path:
        return self.data("model_server")

    def venv(self, component: str) -> Path:
        """A virtualenv per server, keyed by its pinned packages so a BOM change makes a new one."""
        packages = "\n".join(local_server_packages(component))
        digest = hashlib.sha256(packages.encode()).hexdigest()[:10]
        return self.venvs_root / f"{component}-{digest}"

    def venv_bin(self, component: str, program: str) -> str:
        return str(self.venv(component) / "bin" / program)
