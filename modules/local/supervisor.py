"""supervisord: the configuration builder and a thin XML-RPC client over its unix socket."""

from __future__ import annotations

import configparser
import http.client
import io
import xmlrpc.client
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from modules.local.paths import LocalPaths
from modules.local.server import Server


def server_id(paths: LocalPaths, server: Server) -> str:
    return f"{paths.home}/{server.name}"


def supervisord_conf(servers: list[Server], paths: LocalPaths, launcher: list[str]) -> str:
    """supervisord.conf text: one [program:x] per server, restart on crash, a log file each.

    Each command runs through `launcher` (modules.local.reaper), which clears a crashed server's
    orphans before the restart.
    """
    conf = configparser.RawConfigParser()
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf["unix_http_server"] = {"file": str(paths.supervisor_socket), "chmod": "0700"}
    conf["supervisord"] = {
        "logfile": str(paths.logs / "supervisord.log"),
        "pidfile": str(paths.home / "supervisord.pid"),
        "directory": str(paths.home),
        "childlogdir": str(paths.logs),
        "nodaemon": "false",
        "silent": "true",
        # Every file a server writes (databases, objects, logs) is its owner's only.
        "umask": "077",
    }
    conf["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    conf["supervisorctl"] = {"serverurl": f"unix://{paths.supervisor_socket}"}
    for server in servers:
        conf[f"program:{server.name}"] = {
            "command": " ".join(_quote(part) for part in [*launcher, server_id(paths, server), "--", *server.command]),
            "directory": str(paths.home),
            "autostart": "true" if server.autostart else "false",
            "autorestart": "true",
            "startsecs": "1",
            "startretries": "10",
            "priority": str(server.priority),
            "stopsignal": server.stop_signal,
            "stopwaitsecs": str(server.stop_wait_seconds),
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": str(paths.logs / f"{server.name}.log"),
            "stdout_logfile_maxbytes": "20MB",
            "stdout_logfile_backups": "2",
            "environment": ",".join(f'{k}="{v}"' for k, v in sorted(server.env.items())),
        }
    out = io.StringIO()
    conf.write(out)
    return out.getvalue()


def _quote(part: str) -> str:
    return f'"{part}"' if any(c in part for c in ' "%') else part


RPC_ERRORS = (OSError, xmlrpc.client.Fault, http.client.HTTPException)


class SupervisorClient:
    """supervisord's XML-RPC API over its unix socket (a fresh connection per call)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    @property
    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def is_running(self) -> bool:
        try:
            return self._rpc.getState()["statename"] == "RUNNING"
        except RPC_ERRORS:
            return False

    def processes(self) -> list[dict[str, Any]]:
        return list(self._rpc.getAllProcessInfo())

    def stop(self, name: str) -> None:
        self._rpc.stopProcess(name, True)

    def start(self, name: str) -> None:
        self._rpc.startProcess(name, True)

    def shutdown(self) -> None:
        """Stop every program (each within its stopwaitsecs), then supervisord itself."""
        self._rpc.shutdown()
