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
    autostart: bool = True  # False: started later through supervisord's API (it waits on something)
    stop_signal: str = "TERM"
    stop_wait_seconds: int = 10
    # supervisord starts lower numbers first and stops higher numbers first (its default is 999).
    priority: int = 999


@dataclass(frozen=True)
class S3Credentials:
    """The local object store's access keys (generated once per install)."""

    access_key: str
    secret_key: str


LOOPBACK = "127.0.0.1"


def http(port: int, path: str = "") -> str:
    return f"http://{LOOPBACK}:{port}{path}"
