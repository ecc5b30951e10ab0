"""What one supervised local server is: a pure description that builders return."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConfigFile:
    """A file the server needs, written by the runtime before start."""

    path: str
    content: str
    mode: int = 0o600  # the state directory is private; so is every file in it


@dataclass(frozen=True)
class Server:
    """A local server: command, environment, ports and how to tell it is healthy."""

    name: str
    component: str
    command: list[str]
    ports: dict[str, int]
    health_url: str  # http(s)://... answers 200 when ready; tcp://host:port listens; file://... exists
    env: dict[str, str] = field(default_factory=dict)
    files: list[ConfigFile] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)  # created before start
    metrics_url: str | None = None
    venv: str | None = None  # key of modules/versions.yaml local_servers
    free_space: FreeSpace | None = None  # beyond the floor every server needs (runtime.MIN_FREE_MB)
    autostart: bool = True  # False: started later through supervisord's API (it waits on something)
    stop_signal: str = "TERM"
    stop_wait_seconds: int = 10
    # supervisord starts lower numbers first and stops higher numbers first (its default is 999).
    priority: int = 999


@dataclass(frozen=True)
class FreeSpace:
    """Free space a server needs on the state directory's disk before it takes writes: a share of the
    disk's size plus a fixed amount, and the server's own reason (said when the space is missing)."""

    percent_of_disk: float
    megabytes: float
    why: str

    def needed_mb(self, disk_mb: float) -> float:
        return disk_mb * self.percent_of_disk / 100 + self.megabytes


@dataclass(frozen=True)
class S3Credentials:
    """The local object store's access keys (generated once per install)."""

    access_key: str
    secret_key: str


LOOPBACK = "127.0.0.1"


def http(port: int, path: str = "") -> str:
    return f"http://{LOOPBACK}:{port}{path}"
