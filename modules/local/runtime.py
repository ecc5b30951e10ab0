"""The local runtime: brings the local environment's servers up under supervisord, and down."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modules import gobuild
from modules.endpoints import Endpoints
from modules.local.install import ensure_venv, install_all, otelcol_binary, prometheus_binary, venv_ready
from modules.local.models import serve_model
from modules.local.otelcol import OTEL_COLLECTOR
from modules.local.paths import LocalPaths
from modules.local.reaper import processes_of, reap
from modules.local.server import ConfigFile, S3Credentials, Server
from modules.local.stack import LocalBinaries, local_endpoints, local_servers
from modules.local.supervisor import RPC_ERRORS, SupervisorClient, server_id, supervisord_conf
from modules.local.tls import TlsFiles, ensure_tls
from modules.locks import exclusive
from modules.spec import Spec

LAUNCHER = [sys.executable, "-m", "modules.local.reaper"]
ORPHANED = "ORPHANED"  # status of a server whose supervisord died
WRITE_PROBE_KEY = ".cnai-write-probe"
MIN_FREE_MB = 100  # below this, SQLite (MLflow), Milvus and the logs start failing writes


class LocalError(Exception):
    """Something the user can act on (a busy port, a server that would not start)."""


@dataclass(frozen=True)
class ServerStatus:
    name: str
    component: str
    state: str
    pid: int
    healthy: bool
    url: str


def load_or_create_credentials(path: Path) -> S3Credentials:
    """S3 keys generated once per install, kept in a 0600 file."""
    if path.is_file():
        data = json.loads(path.read_text())
        return S3Credentials(data["access_key"], data["secret_key"])
    alphabet = string.ascii_uppercase + string.digits
    creds = S3Credentials(
        access_key="CNAI" + "".join(secrets.choice(alphabet) for _ in range(16)),
        secret_key=secrets.token_urlsafe(30),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"access_key": creds.access_key, "secret_key": creds.secret_key}, handle)
    return creds


def write_private(path: Path, content: str | bytes, mode: int = 0o600) -> None:
    """Write a file that never exists, even for an instant, with looser permissions than `mode`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w") as handle:
        handle.write(content)


def write_config_files(files: list[ConfigFile]) -> None:
    for config in files:
        path = Path(config.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, config.content, config.mode)


def start_supervisord(conf: Path) -> None:
    """supervisord daemonizes; it returns once it listens on its socket."""
    subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)], check=True)


def log_tail(log: Path, lines: int = 15) -> str:
    tail = log.read_text(errors="replace").splitlines()[-lines:] if log.is_file() else ["(no log)"]
    return f"--- {log} ---\n" + "\n".join(tail)


def disk_megabytes(path: Path) -> tuple[float, float]:
    """Free and total space of the disk holding `path` (its nearest existing folder)."""
    while not path.exists():
        path = path.parent
    usage = shutil.disk_usage(path)
    return usage.free / 1e6, usage.total / 1e6


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def busy_ports(servers: list[Server]) -> list[str]:
    """'port N (server role)' for every port of these servers that something already holds."""
    return [
        f"port {port} ({server.name} {role})"
        for server in servers
        for role, port in server.ports.items()
        if not port_is_free(port)
    ]


def is_healthy(url: str, timeout: float = 1.0, pid: int | None = None) -> bool:
    if url.startswith("file://"):  # a launcher's ready file: its pid, written once the server is usable
        ready = Path(url[len("file://") :])
        return ready.is_file() and (pid is None or ready.read_text().strip() == str(pid))
    if url.startswith("tcp://"):
        host, port = url[len("tcp://") :].rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except OSError:
            return False
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class LocalRuntime:
    """Adapter: writes the builders' configs, drives supervisord, waits for health."""

    def __init__(self, spec: Spec, paths: LocalPaths, console: Console | None = None) -> None:
        self.spec = spec
        self.paths = paths
        self.console = console or Console(stderr=True)
        self.supervisor = SupervisorClient(paths.supervisor_socket)

    # --- install -------------------------------------------------------------------------------
    def setup(self) -> LocalBinaries:
        """Install every enabled server's software that is missing, side by side (idempotent);
        returns where the servers that are not Python packages are."""
        plan = self._server_plan()
        steps: dict[str, Callable[[], object]] = {
            s.venv: partial(ensure_venv, self.paths, s.venv)
            for s in plan
            if s.venv and not venv_ready(self.paths, s.venv)
        }
        wants_prometheus = any(s.name == "prometheus" for s in plan)
        wants_collector = any(s.name == OTEL_COLLECTOR for s in plan)
        if wants_prometheus and shutil.which("prometheus") is None:
            steps["prometheus"] = prometheus_binary
        if wants_collector and not gobuild.path_of("otelcol").is_file():
            steps[OTEL_COLLECTOR] = otelcol_binary
        if steps:
            install_all(steps, self.console)
        return LocalBinaries(
            prometheus=prometheus_binary(install=False) if wants_prometheus else "prometheus",
            otelcol=otelcol_binary(install=False) if wants_collector else "otelcol",
        )

    def _server_plan(self) -> list[Server]:
        """Which servers run, their names, ports and health URLs: what status, setup and stop need
        (credentials and binary paths do not matter there)."""
        return self._servers(S3Credentials("-", "-"), LocalBinaries())

    def _servers(self, credentials: S3Credentials, binaries: LocalBinaries) -> list[Server]:
        return local_servers(self.spec, self.paths, credentials, binaries, self._database_url())

    def _database_url(self) -> str | None:
        """MLflow's PostgreSQL URL from the env var the spec names (local runs have no Pulumi secrets)."""
        ref = self.spec.components.mlflow.database_url
        if ref is None or ref.env is None:
            return None
        if ref.env not in os.environ:
            raise LocalError(f"components.mlflow.database_url: environment variable {ref.env} is not set")
        return os.environ[ref.env]

    # --- up ------------------------------------------------------------------------------------
    def up(self) -> Endpoints:
        with exclusive(self.paths.lock):
            if self.supervisor.is_running():
                return self._already_up()
            self._stop_orphans()
            if problem := self.disk_problem():
                raise LocalError(f"{problem} Nothing was started.")
            binaries = self.setup()
            credentials = load_or_create_credentials(self.paths.credentials)
            ensure_tls(TlsFiles(self.paths.tls), "cnai-local")
            servers = self._servers(credentials, binaries)
            self._check_ports(servers)
            self._write_files(servers)
            try:  # from here on, an error or Ctrl-C leaves nothing running
                start_supervisord(self.paths.supervisor_conf)
                self._wait_healthy(servers)
                self._create_buckets(credentials)
            except BaseException:
                self._stop_supervisord()
                self._stop_orphans()
                raise
            endpoints = local_endpoints(self.spec, self.paths, servers)
            endpoints.write(self.paths.endpoints)
            return endpoints

    def _already_up(self) -> Endpoints:
        unhealthy = [s.name for s in self.status() if not s.healthy]
        if unhealthy or not self.paths.endpoints.is_file():
            raise LocalError(
                f"already running but not healthy: {', '.join(unhealthy) or 'no endpoints document'}. "
                f"See {self.paths.logs} or run `cnai down {self.spec.name}` and up again."
            )
        self.console.print("[green]already up[/] - nothing to start")
        return Endpoints.read(self.paths.endpoints)

    def _check_ports(self, servers: list[Server]) -> None:
        if busy := busy_ports(servers):
            raise LocalError(
                "cannot start: already in use: "
                + "; ".join(busy)
                + ". Stop what holds it or change local.ports in the spec. Nothing was started."
            )

    def _write_files(self, servers: list[Server]) -> None:
        for directory in (self.paths.logs, self.paths.config):
            directory.mkdir(parents=True, exist_ok=True)
        for server in servers:
            self.paths.data(server.name).mkdir(parents=True, exist_ok=True)
            for directory in server.directories:
                Path(directory).mkdir(parents=True, exist_ok=True)
            write_config_files(server.files)
            if server.health_url.startswith("file://"):  # a ready file of an earlier life is not health
                Path(server.health_url[len("file://") :]).unlink(missing_ok=True)
        write_private(self.paths.supervisor_conf, supervisord_conf(servers, self.paths, LAUNCHER), 0o600)

    def _wait_healthy(self, servers: list[Server]) -> None:
        deadline = time.monotonic() + self.spec.local.ready_timeout_seconds
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            tasks = {s.name: progress.add_task(f"{s.name}: starting", total=1) for s in servers}
            pending = list(servers)
            while pending and time.monotonic() < deadline:
                for server in [s for s in pending if is_healthy(s.health_url)]:
                    progress.update(tasks[server.name], completed=1, description=f"[green]{server.name}: healthy")
                    pending.remove(server)
                time.sleep(0.2)
        if pending:
            details = "\n".join(log_tail(self.paths.logs / f"{s.name}.log") for s in pending)
            raise LocalError(
                f"not healthy within {self.spec.local.ready_timeout_seconds}s: "
                f"{', '.join(s.name for s in pending)}; everything was stopped.\n{details}"
            )

    def _create_buckets(self, credentials: S3Credentials) -> None:
        if not self.spec.components.object_storage.enabled:
            return
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.spec.local.ports.object_storage}",
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            region_name="us-east-1",
            config=BotoConfig(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2}),
        )
        for bucket in self.spec.components.object_storage.buckets:
            with contextlib.suppress(ClientError):  # already there from an earlier `up`
                s3.create_bucket(Bucket=bucket)
            self._probe_write(s3, bucket)

    def _probe_write(self, s3: Any, bucket: str) -> None:
        """A healthy gateway is not a store that takes writes (SeaweedFS answers its health check with no
        volume to write to): one small object written and deleted per bucket proves it."""
        try:
            s3.put_object(Bucket=bucket, Key=WRITE_PROBE_KEY, Body=b"cnai")
            s3.delete_object(Bucket=bucket, Key=WRITE_PROBE_KEY)
        except (ClientError, BotoCoreError) as error:
            raise LocalError(
                f"object_storage: bucket {bucket} does not take writes ({error}); everything was stopped.\n"
                + log_tail(self.paths.logs / "object_storage.log")
            ) from error

    # --- status / down -------------------------------------------------------------------------
    def status(self) -> list[ServerStatus]:
        servers = {s.name: s for s in self._server_plan()}
        if not self.supervisor.is_running():
            return [
                ServerStatus(name, servers[name].component, ORPHANED, procs[0].pid, False, servers[name].health_url)
                for name, procs in self.orphans().items()
            ]
        health = {name: s.health_url for name, s in servers.items()}
        return [
            ServerStatus(
                name=info["name"],
                component=servers[info["name"]].component if info["name"] in servers else "?",
                state=info["statename"],
                pid=info["pid"],
                healthy=is_healthy(health.get(info["name"], "tcp://127.0.0.1:1"), pid=info["pid"]),
                url=health.get(info["name"], ""),
            )
            for info in self.supervisor.processes()
        ]

    def processes(self) -> list[psutil.Process]:
        """supervisord and every process under it (servers and their workers)."""
        pidfile = self.paths.home / "supervisord.pid"
        if not self.supervisor.is_running() or not pidfile.is_file():
            return []
        root = psutil.Process(int(pidfile.read_text()))
        return [root, *root.children(recursive=True)]

    def down(self) -> bool:
        """Stop every server and supervisord; data stays. False when nothing was running."""
        with exclusive(self.paths.lock):
            running = self.supervisor.is_running()
            if running:
                self._stop_supervisord()
            stopped_orphans = self._stop_orphans()
            self.paths.endpoints.unlink(missing_ok=True)
            return running or stopped_orphans > 0

    def disk_problem(self) -> str | None:
        """Why the state directory's disk cannot take writes now, or None."""
        free, total = disk_megabytes(self.paths.home)
        needs = [(float(MIN_FREE_MB), "every server")] + [
            (s.free_space.needed_mb(total), f"{s.name} ({s.free_space.why})")
            for s in self._server_plan()
            if s.free_space is not None
        ]
        needed, who = max(needs)
        if free >= needed:
            return None
        return (
            f"the disk holding {self.paths.home} has {free:.0f} MB free of {total:.0f} MB; {who} needs >= "
            f"{needed:.0f} MB: writes fail until space is freed; data already written is kept."
        )

    def orphans(self) -> dict[str, list[psutil.Process]]:
        """Server processes that outlived their supervisord (killed -9, OOM): name -> processes.
        Found by the server ID every process of a server inherits (modules.local.reaper)."""
        found = {s.name: processes_of(server_id(self.paths, s), os.getpid()) for s in self._server_plan()}
        return {name: procs for name, procs in found.items() if procs}

    def _stop_orphans(self) -> int:
        """Stop servers left running by a dead supervisord the way it would have: the stop signal,
        then a kill after the server's grace period. Returns how many processes there were."""
        orphans = self.orphans()
        plan = {s.name: s for s in self._server_plan()}
        for name, procs in orphans.items():  # all servers stop side by side, as under supervisord
            for process in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(getattr(signal, f"SIG{plan[name].stop_signal}"))
        everyone = [process for procs in orphans.values() for process in procs]
        grace = max((plan[name].stop_wait_seconds for name in orphans), default=0)
        _, alive = psutil.wait_procs(everyone, timeout=grace)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(alive, timeout=5)
        if orphans:
            self.console.print(
                f"[yellow]supervisord had died[/]: stopped the servers it left running ({', '.join(orphans)})"
            )
        return sum(len(procs) for procs in orphans.values())

    def _stop_supervisord(self) -> None:
        pidfile = self.paths.home / "supervisord.pid"
        pid = int(pidfile.read_text()) if pidfile.is_file() else None
        try:
            self.supervisor.shutdown()
        except RPC_ERRORS:
            if pid is not None and process_alive(pid):
                os.kill(pid, signal.SIGTERM)  # the socket is gone but the daemon is not
        while pid is not None and process_alive(pid):
            time.sleep(0.1)
        for server in self._server_plan():
            reap(server_id(self.paths, server))  # anything a crash orphaned outside supervisord's group

    def purge(self) -> list[Path]:
        """Delete the state directory (after `down`); returns what was deleted."""
        self.down()
        doomed = sorted(self.paths.home.iterdir()) if self.paths.home.exists() else []
        shutil.rmtree(self.paths.home, ignore_errors=True)
        return doomed

    # --- models --------------------------------------------------------------------------------
    def serve(self, name: str, model_uri: str) -> None:
        """Add a model to the model server's repository and load it now (and at every start)."""
        if not self.supervisor.is_running():
            raise LocalError("the local environment is not up: run `cnai up local` first")
        serve_model(
            self.paths.model_repository, f"http://127.0.0.1:{self.spec.local.ports.model_server}", name, model_uri
        )


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
