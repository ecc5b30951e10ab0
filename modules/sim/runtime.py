"""The sim runtime: a real control plane on 127.0.0.1 under supervisord, nodes shaped like other
environments' node groups, and the Kueue, KServe and JobSet controllers with their CRDs, RBAC and webhooks.

up: build what is missing -> PKI -> etcd, kube-apiserver, controller-manager, scheduler, kwok ->
the charts' CRDs, RBAC and webhook configurations (pointed at the local controllers) -> the emulated
environments' nodes (Ready) -> the controllers (Karpenter's too when asked). Any failure stops
everything that was started and names the component and its log. down: stops every process (data
stays in .cnai/sim); purge deletes it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modules import gobuild as build
from modules.cluster import apply as kube
from modules.components.jobset import jobset_values
from modules.components.kserve import kserve_values
from modules.components.kueue import kueue_manager_config, kueue_values
from modules.errors import CnaiError
from modules.local.reaper import processes_of, reap
from modules.local.runtime import busy_ports, log_tail, start_supervisord, write_config_files, write_private
from modules.local.server import ConfigFile, Server
from modules.local.supervisor import RPC_ERRORS, SupervisorClient, server_id, supervisord_conf
from modules.locks import exclusive
from modules.sim import charts, pki, provisioner, servers
from modules.sim import karpenter as sim_karpenter
from modules.sim.nodes import sim_nodes
from modules.sim.postrender import object_key
from modules.sim.servers import (
    IDENTITIES,
    JOBSET_NAMESPACE,
    KSERVE_NAMESPACE,
    KUEUE_NAMESPACE,
    KUEUE_WEBHOOK_SECRET,
    KUEUE_WEBHOOK_SERVICE,
    SimPaths,
    SimPorts,
)
from modules.spec import Spec, load_spec
from modules.spec.karpenter import uses_karpenter

LAUNCHER = [sys.executable, "-m", "modules.local.reaper"]
DEFAULT_EMULATES = ("dev", "prod")
READY_TIMEOUT = float(os.environ.get("CNAI_SIM_READY_TIMEOUT", "120"))


class SimError(CnaiError):
    """Something the user can act on: names the component, its log file and the fix."""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str
    pid: int
    healthy: bool
    url: str
    log: str


@dataclass
class UpReport:
    seconds: float
    emulates: tuple[str, ...]
    nodes: int
    objects_applied: int
    phases: dict[str, float] = field(default_factory=dict)


def _ssl_context(paths: SimPaths, identity: str | None = "admin") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(paths.ca))
    if identity:
        context.load_cert_chain(str(paths.cert(identity)), str(paths.key(identity)))
    return context


def healthy(paths: SimPaths, server: Server, timeout: float = 1.0) -> bool:
    """200 from the server's health URL. The API server is checked over TLS with the admin
    certificate; controller-manager and scheduler serve a self-signed certificate (not verified)."""
    url = server.health_url
    if url.startswith("https://") and server.name == "kube-apiserver":
        verify: ssl.SSLContext | bool = _ssl_context(paths)
    else:
        verify = False
    try:
        ok = httpx.get(url, timeout=timeout, verify=verify).status_code == 200
    except (httpx.HTTPError, OSError, ssl.SSLError):
        return False
    if ok and "webhook" in server.ports:  # Kueue's bootstrap manager answers readyz before its webhooks
        try:
            with socket.create_connection(("127.0.0.1", server.ports["webhook"]), timeout=timeout):
                return True
        except OSError:
            return False
    return ok


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, content)


def ensure_pki(paths: SimPaths) -> None:
    """CA, serving certificates, client certificates and the service-account key, created once."""
    if not paths.ca.is_file():
        shutil.rmtree(paths.pki, ignore_errors=True)  # never mix a new CA with old leaves
        ca = pki.certificate_authority()
        _write_private(paths.key("ca"), ca.key)
        _write_private(paths.ca, ca.cert)
    ca = pki.KeyPair(paths.ca.read_bytes(), paths.key("ca").read_bytes())
    wanted: dict[str, Callable[[], pki.KeyPair]] = {
        "apiserver": lambda: pki.serving_certificate(ca, "kube-apiserver", *pki.apiserver_names()),
        "etcd": lambda: pki.serving_certificate(ca, "etcd", *pki.loopback_names()),
        "kueue-ca": lambda: pki.certificate_authority(**pki.KUEUE_CA),
        "kserve-webhook": lambda: pki.serving_certificate(ca, "kserve-webhook", *pki.loopback_names()),
        "jobset-webhook": lambda: pki.serving_certificate(ca, "jobset-webhook", *pki.loopback_names()),
        "service-account": pki.service_account_key,
        **{name: (lambda i=identity: pki.client_certificate(ca, i)) for name, identity in IDENTITIES.items()},
    }
    for name, make in wanted.items():
        if not (paths.cert(name).is_file() and paths.key(name).is_file()):
            pair = make()
            _write_private(paths.key(name), pair.key)
            _write_private(paths.cert(name), pair.cert)
    if not paths.cert("kueue-webhook").is_file():
        kueue_ca = pki.KeyPair(paths.cert("kueue-ca").read_bytes(), paths.key("kueue-ca").read_bytes())
        names = pki.kueue_webhook_names(KUEUE_WEBHOOK_SERVICE, KUEUE_NAMESPACE)
        pair = pki.serving_certificate(kueue_ca, f"{KUEUE_WEBHOOK_SERVICE}.{KUEUE_NAMESPACE}.svc", *names)
        _write_private(paths.key("kueue-webhook"), pair.key)
        _write_private(paths.cert("kueue-webhook"), pair.cert)
    # What the kubelet would project from the Secret into Kueue's certDir (its rotator waits for it).
    for name, source in (("tls.crt", paths.cert("kueue-webhook")), ("tls.key", paths.key("kueue-webhook"))):
        _write_private(paths.kueue_certs / name, source.read_bytes())
    _write_private(paths.kueue_certs / "ca.crt", paths.cert("kueue-ca").read_bytes())
    for name, source in (("tls.crt", paths.cert("kserve-webhook")), ("tls.key", paths.key("kserve-webhook"))):
        _write_private(paths.kserve_certs / name, source.read_bytes())
    for name, source in (("tls.crt", paths.cert("jobset-webhook")), ("tls.key", paths.key("jobset-webhook"))):
        _write_private(paths.jobset_certs / name, source.read_bytes())


def kueue_webhook_secret(paths: SimPaths) -> dict[str, Any]:
    """The Secret Kueue's certificate management reads (the chart would create it empty)."""
    data = {
        "ca.crt": paths.cert("kueue-ca"),
        "ca.key": paths.key("kueue-ca"),
        "tls.crt": paths.cert("kueue-webhook"),
        "tls.key": paths.key("kueue-webhook"),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": KUEUE_WEBHOOK_SECRET, "namespace": KUEUE_NAMESPACE},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.read_bytes()).decode() for k, v in data.items()},
    }


class SimRuntime:
    """Adapter: writes configs, drives supervisord, applies the cluster objects, waits for readiness."""

    def __init__(
        self,
        emulates: tuple[str, ...] = DEFAULT_EMULATES,
        paths: SimPaths | None = None,
        ports: SimPorts | None = None,
        console: Console | None = None,
        karpenter: bool = False,
    ) -> None:
        self.emulates = tuple(emulates)
        # EKS GPU pools scaled by Karpenter's kwok provider instead of emulated at their maximum.
        self.karpenter = karpenter
        self.paths = paths or SimPaths.from_env()
        self.ports = ports or SimPorts.from_env()
        self.console = console or Console(stderr=True)
        self.supervisor = SupervisorClient(self.paths.local.supervisor_socket)
        self.ready_timeout = READY_TIMEOUT

    # --- what runs ---------------------------------------------------------------------------------
    @property
    def specs(self) -> list[Spec]:
        return [load_spec(env) for env in self.emulates]

    @property
    def controller_spec(self) -> Spec:
        """Kueue's and KServe's configuration (integrations, waitForPodsReady, fair sharing, deployment
        mode) comes from the first emulated environment; the emulated environments share the controllers."""
        return self.specs[0]

    def servers(self) -> list[Server]:
        kube_bin = str(build.path_of("kube"))
        return [
            *servers.control_plane(self.paths, self.ports, kube_bin),
            servers.kwok(self.paths, self.ports, str(build.path_of("kwok")), str(build.path_of("kwok-stages"))),
            servers.kueue(
                self.paths, self.ports, str(build.path_of("kueue")), kueue_manager_config(self.controller_spec)
            ),
            servers.kserve(self.paths, self.ports, str(build.path_of("kserve"))),
            servers.jobset(self.paths, self.ports, str(build.path_of("jobset"))),
            servers.provisioner(self.paths, self.ports),
            *self._karpenter_servers(),
        ]

    def _karpenter_specs(self) -> list[Spec]:
        """The emulated environments whose GPU pools Karpenter scales (none unless asked)."""
        return [spec for spec in self.specs if uses_karpenter(spec)] if self.karpenter else []

    def _karpenter_servers(self) -> list[Server]:
        specs = self._karpenter_specs()
        if not specs:
            return []
        catalogue = [entry for spec in specs for entry in sim_karpenter.instance_types(spec)]
        return [servers.karpenter(self.paths, self.ports, str(build.path_of("karpenter")), catalogue)]

    def _karpenter_objects(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Its provider's node class CRD, and the NodePools with their node classes (none without it)."""
        specs = self._karpenter_specs()
        if not specs:
            return [], []
        crd = [d for d in yaml.safe_load_all(build.path_of("karpenter-kwok-crd").read_text()) if d]
        pools = [o for spec in specs for o in (*sim_karpenter.node_classes(spec), *sim_karpenter.node_pools(spec))]
        return crd, pools

    def kubeconfig(self) -> Path:
        return self.paths.kubeconfig

    def client(self) -> Any:
        return kube.client(self.paths.kubeconfig)

    # --- up -----------------------------------------------------------------------------------------
    def up(self) -> UpReport:
        started = time.monotonic()
        with exclusive(self.paths.home / "lock"):
            if self.supervisor.is_running():
                return self._already_up(started)
            self._stop_orphans()
            build.ensure_built(self.console)
            plan = self.servers()
            self._check_ports(plan)
            self.paths.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            ensure_pki(self.paths)
            self._write_files(plan)
            phases: dict[str, float] = {}
            try:
                start_supervisord(self.paths.local.supervisor_conf)
                report = self._bring_up(plan, phases)
            except BaseException:
                self._stop_supervisord()
                raise
            report.seconds = time.monotonic() - started
            self._write_state(report)
            return report

    def _bring_up(self, plan: list[Server], phases: dict[str, float]) -> UpReport:
        controllers = [s for s in plan if not s.autostart]
        started = time.monotonic()
        self._wait_healthy([s for s in plan if s.autostart])
        phases["control plane ready"] = time.monotonic() - started
        dyn = self.client()
        started = time.monotonic()
        karpenter_crds, karpenter_pools = self._karpenter_objects()
        objects = [*self._chart_objects(), *karpenter_crds, *provisioner.objects()]
        self.paths.installed_objects.write_text(json.dumps(sorted(object_key(o) for o in objects)))
        crds = charts.crds(objects)
        applied = len(self._apply(dyn, crds, "CRDs of the platform's charts"))
        names = [o["metadata"]["name"] for o in crds]
        self._wait(lambda: kube.crds_established(dyn, names), "CRDs established", "kube-apiserver")
        applied += len(self._apply(dyn, [o for o in objects if o not in crds], "chart objects"))
        phases["CRDs, RBAC, webhooks"] = time.monotonic() - started
        started = time.monotonic()
        nodes = [n for spec in self.specs for n in sim_nodes(spec, karpenter_scales=self.karpenter)]
        applied += len(self._apply(dyn, nodes, "nodes"))
        self._wait(lambda: self._nodes_ready(dyn, [n["metadata"]["name"] for n in nodes]), "nodes Ready", "kwok")
        phases["nodes ready"] = time.monotonic() - started
        started = time.monotonic()
        applied += len(self._apply(dyn, karpenter_pools, "Karpenter's NodePools"))
        for server in controllers:
            try:
                self.supervisor.start(server.name)
            except RPC_ERRORS as exc:
                raise SimError(
                    f"sim up: {server.name} did not start ({exc}); everything was stopped. "
                    f"Log {self.paths.log(server.name)}\n{log_tail(self.paths.log(server.name))}"
                ) from exc
        self._wait_healthy(controllers)
        phases[f"{' and '.join(s.name for s in controllers)} ready"] = time.monotonic() - started
        return UpReport(0.0, self.emulates, len(nodes), applied, phases)

    def _chart_objects(self) -> list[dict[str, Any]]:
        """What the sim installs of the charts: the platform charts' CRDs; Kueue's, KServe's and JobSet's
        chart objects with cnai's values (their webhooks pointed at the local controllers), their namespaces,
        and the Secret with Kueue's webhook certificate (its certificate management injects its CA)."""
        helm, cache, spec = str(build.path_of("helm")), self.paths.charts_cache, self.controller_spec
        kueue = charts.render_cached(helm, cache, "kueue", "kueue", KUEUE_NAMESPACE, kueue_values(spec))
        kserve = charts.render_cached(helm, cache, "kserve", "kserve", KSERVE_NAMESPACE, kserve_values(spec))
        jobset = charts.render_cached(helm, cache, "jobset", "jobset", JOBSET_NAMESPACE, jobset_values(spec))
        namespaces = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            for name in (KUEUE_NAMESPACE, KSERVE_NAMESPACE, JOBSET_NAMESPACE)
        ]
        return [
            *charts.platform_crds(helm, cache),
            *namespaces,
            *charts.installable(kueue, self.ports.kueue_webhook, self.paths.cert("kueue-ca").read_bytes()),
            kueue_webhook_secret(self.paths),
            *charts.installable(kserve, self.ports.kserve_webhook, self.paths.ca.read_bytes()),
            *charts.installable(jobset, self.ports.jobset_webhook, self.paths.ca.read_bytes()),
        ]

    def _apply(self, dyn: Any, objects: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
        try:
            return kube.apply_all(dyn, objects, manager=kube.SIM_MANAGER)
        except kube.ApplyError as exc:
            raise SimError(f"sim up: applying {what} failed; everything was stopped.\n{exc}") from exc

    def _wait(self, check: Callable[[], Any], what: str, component: str) -> Any:
        try:
            return kube.wait_for(check, self.ready_timeout, what)
        except TimeoutError as exc:
            raise SimError(
                f"sim up: {exc}; everything was stopped. Component: {component}, log {self.paths.log(component)}\n"
                + log_tail(self.paths.log(component))
            ) from exc

    @staticmethod
    def _nodes_ready(dyn: Any, names: list[str]) -> bool:
        api = dyn.resources.get(api_version="v1", kind="Node")
        ready = {item["metadata"]["name"] for item in api.get().to_dict()["items"] if kube.is_true(item, "Ready")}
        return set(names) <= ready

    def _already_up(self, started: float) -> UpReport:
        unhealthy = [s.name for s in self.status() if not s.healthy]
        if unhealthy:
            raise SimError(
                f"sim is running but not healthy: {', '.join(unhealthy)}. Logs in {self.paths.logs}; "
                "run `cnai down sim` and up again."
            )
        self.console.print("[green]sim already up[/] - nothing to start")
        state = json.loads(self.paths.state.read_text()) if self.paths.state.is_file() else {}
        return UpReport(
            time.monotonic() - started, tuple(state.get("emulates", self.emulates)), state.get("nodes", 0), 0
        )

    def _check_ports(self, plan: list[Server]) -> None:
        if busy := busy_ports(plan):
            raise SimError(
                "sim up: cannot start, already in use: "
                + "; ".join(busy)
                + ". Stop what holds it, or move every sim port with CNAI_SIM_PORT_BASE. Nothing was started."
            )

    def _write_files(self, plan: list[Server]) -> None:
        local = self.paths.local
        for directory in (local.logs, local.config):
            directory.mkdir(parents=True, exist_ok=True)
        for s in plan:
            for directory in s.directories:
                Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
        kubeconfig = ConfigFile(str(self.paths.kubeconfig), servers.kubeconfig(self.paths, self.ports, "admin"))
        write_config_files([kubeconfig, *(f for s in plan for f in s.files)])
        write_private(local.supervisor_conf, supervisord_conf(plan, local, LAUNCHER))

    def _wait_healthy(self, plan: list[Server]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        pending = list(plan)
        with Progress(*columns, console=self.console, transient=False) as progress:
            tasks = {s.name: progress.add_task(f"{s.name}: starting", total=1) for s in plan}
            while pending and time.monotonic() < deadline:
                for server in [s for s in pending if healthy(self.paths, s)]:
                    progress.update(tasks[server.name], completed=1, description=f"[green]{server.name}: ready")
                    pending.remove(server)
                if pending and self._fatal(pending):
                    break
                time.sleep(0.2)
        if pending:
            details = "\n".join(log_tail(self.paths.log(s.name)) for s in pending)
            raise SimError(
                f"sim up: not ready within {self.ready_timeout:.0f}s: "
                + ", ".join(f"{s.name} (log {self.paths.log(s.name)})" for s in pending)
                + f"; everything was stopped.\n{details}"
            )

    def _fatal(self, pending: list[Server]) -> bool:
        """A pending server that supervisord gave up on (FATAL): waiting longer is pointless."""
        with contextlib.suppress(*RPC_ERRORS):
            states = {p["name"]: p["statename"] for p in self.supervisor.processes()}
            return any(states.get(s.name) == "FATAL" for s in pending)
        return False

    @classmethod
    def running(cls, console: Console | None = None) -> SimRuntime:
        """The sim that is up (its paths and ports from the environment), emulating what it was started
        with; a clear error when it is not up or not healthy."""
        probe = cls(console=console)
        if not probe.supervisor.is_running() or not probe.paths.state.is_file():
            raise SimError("the sim is not up: run `cnai up sim` first")
        runtime = cls(tuple(json.loads(probe.paths.state.read_text())["emulates"]), console=console)
        if unhealthy := [s.name for s in runtime.status() if not s.healthy]:
            raise SimError(f"the sim is up but not healthy: {', '.join(unhealthy)}; logs in {runtime.paths.logs}")
        return runtime

    def _write_state(self, report: UpReport) -> None:
        state = {
            "emulates": list(report.emulates),
            "nodes": report.nodes,
            "up_seconds": round(report.seconds, 1),
            "phases": {k: round(v, 1) for k, v in report.phases.items()},
            "kubeconfig": str(self.paths.kubeconfig),
            "apiserver": f"https://127.0.0.1:{self.ports.apiserver}",
        }
        self.paths.state.write_text(json.dumps(state, indent=2) + "\n")

    # --- status / down ------------------------------------------------------------------------------
    def _plan(self) -> list[Server]:
        return self.servers()

    def status(self) -> list[ComponentStatus]:
        plan = {s.name: s for s in self._plan()}
        if not self.supervisor.is_running():
            return []
        return [
            ComponentStatus(
                name=info["name"],
                state=info["statename"],
                pid=info["pid"],
                healthy=info["name"] in plan and healthy(self.paths, plan[info["name"]]),
                url=plan[info["name"]].health_url if info["name"] in plan else "",
                log=str(self.paths.log(info["name"])),
            )
            for info in self.supervisor.processes()
        ]

    def processes(self) -> list[psutil.Process]:
        pidfile = self.paths.home / "supervisord.pid"
        if not self.supervisor.is_running() or not pidfile.is_file():
            return []
        root = psutil.Process(int(pidfile.read_text()))
        return [root, *root.children(recursive=True)]

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of each sim process (MiB), by program name, and the total."""
        processes = self.processes()
        if not processes:
            return {"total": 0.0}
        names = {info["pid"]: info["name"] for info in self.supervisor.processes()}
        names[processes[0].pid] = "supervisord"
        out: dict[str, float] = {}
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                name = names.get(process.pid, "other")
                out[name] = out.get(name, 0.0) + process.memory_info().rss / 2**20
        out["total"] = sum(out.values())
        return out

    def down(self) -> bool:
        """Stop every process; data stays. False when nothing was running."""
        with exclusive(self.paths.home / "lock"):
            running = self.supervisor.is_running()
            if running:
                self._stop_supervisord()
            return running or self._stop_orphans() > 0

    def _stop_orphans(self) -> int:
        count = 0
        for server in self._plan():
            count += reap(server_id(self.paths.local, server))
        return count

    def _stop_supervisord(self) -> None:
        pidfile = self.paths.home / "supervisord.pid"
        pid = int(pidfile.read_text()) if pidfile.is_file() else None
        try:
            self.supervisor.shutdown()
        except RPC_ERRORS:
            if pid is not None and psutil.pid_exists(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 15)
        deadline = time.monotonic() + 60
        while pid is not None and psutil.pid_exists(pid) and time.monotonic() < deadline:
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            time.sleep(0.1)
        for server in self._plan():
            reap(server_id(self.paths.local, server))

    def leftovers(self) -> list[psutil.Process]:
        """Processes of any sim server still alive (for tests: none after down)."""
        found: list[psutil.Process] = []
        for server in self._plan():
            found += processes_of(server_id(self.paths.local, server), os.getpid())
        return found

    def purge(self) -> None:
        self.down()
        shutil.rmtree(self.paths.home, ignore_errors=True)
