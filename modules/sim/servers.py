"""The sim control plane as supervised local servers: pure builders returning `Server` objects.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, the Kueue, KServe and JobSet
controllers, each with its own client identity (certificate) where it talks to the API server, each
bound to 127.0.0.1 - except KServe's webhook listener: its manager has no flag for the host, so
controller-runtime binds the port on every interface (TLS with a certificate for 127.0.0.1 only).
Files (kubeconfigs, configs) are returned as `ConfigFile`s the runtime writes.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from modules.components.jobset import NAMESPACE as JOBSET_NAMESPACE
from modules.components.kserve import NAMESPACE as KSERVE_NAMESPACE
from modules.components.kueue import NAMESPACE as KUEUE_NAMESPACE
from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, ConfigFile, Server
from modules.sim.pki import SERVICE_CIDR, Identity
from modules.spec.loader import REPO_ROOT

KUEUE_SERVICE_ACCOUNT = "kueue-controller-manager"  # the chart's names (release `kueue`)
KUEUE_WEBHOOK_SERVICE = "kueue-webhook-service"
KUEUE_WEBHOOK_SECRET = "kueue-webhook-server-cert"
KSERVE_SERVICE_ACCOUNT = "kserve-controller-manager"  # the kserve-resources chart's name
JOBSET_SERVICE_ACCOUNT = "jobset-controller"  # the chart's name (release `jobset`)
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
POD_CIDR = "10.244.0.1/16"
# Stop order (supervisord stops higher priorities first): the clients of the API server, then the API
# server, then etcd. Stopped together, the API server waits on an etcd that is going away and is killed.
STORE_PRIORITY, API_PRIORITY, CONTROLLER_PRIORITY = 10, 20, 40

# Who each component is to the API server. Controller-manager and scheduler get the users the default
# RBAC roles are bound to; Kueue is its chart's service account (so the chart's RBAC is what it has);
# kwok plays every kubelet and needs to write any pod's and node's status: it is an admin for now.
ADMIN = Identity("admin", "cnai-admin", ("system:masters",))
IDENTITIES = {
    "admin": ADMIN,
    "apiserver-etcd-client": Identity("apiserver-etcd-client", "kube-apiserver-etcd-client"),
    "kube-controller-manager": Identity("kube-controller-manager", "system:kube-controller-manager"),
    "kube-scheduler": Identity("kube-scheduler", "system:kube-scheduler"),
    "kueue": Identity(
        "kueue",
        f"system:serviceaccount:{KUEUE_NAMESPACE}:{KUEUE_SERVICE_ACCOUNT}",
        ("system:serviceaccounts", f"system:serviceaccounts:{KUEUE_NAMESPACE}"),
    ),
    "jobset": Identity(
        "jobset",
        f"system:serviceaccount:{JOBSET_NAMESPACE}:{JOBSET_SERVICE_ACCOUNT}",
        ("system:serviceaccounts", f"system:serviceaccounts:{JOBSET_NAMESPACE}"),
    ),
    "kwok": Identity("kwok", "cnai-kwok", ("system:masters",)),
    # Bound to the built-in system:persistent-volume-provisioner role (modules/sim/provisioner.py).
    "provisioner": Identity("provisioner", "system:cnai-sim-provisioner"),
    # Karpenter's kwok provider also plays the cloud: it creates the Node objects instances would register.
    "karpenter": Identity("karpenter", "cnai-karpenter", ("system:masters",)),
    "kserve": Identity(
        "kserve",
        f"system:serviceaccount:{KSERVE_NAMESPACE}:{KSERVE_SERVICE_ACCOUNT}",
        ("system:serviceaccounts", f"system:serviceaccounts:{KSERVE_NAMESPACE}"),
    ),
}


@dataclass(frozen=True)
class SimPorts:
    """Loopback ports of the sim; all derived from one base so a second sim (CI) can move them all."""

    etcd: int
    etcd_peer: int
    etcd_metrics: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    kueue_webhook: int
    kueue_health: int
    kueue_metrics: int
    kueue_visibility: int
    kserve_webhook: int
    kserve_health: int
    kserve_metrics: int
    karpenter_metrics: int
    karpenter_health: int
    jobset_webhook: int
    jobset_health: int
    jobset_metrics: int
    provisioner_health: int

    @classmethod
    def from_base(cls, base: int = 26400) -> SimPorts:
        return cls(*(base + i for i in range(len(fields(cls)))))

    @classmethod
    def from_env(cls) -> SimPorts:
        return cls.from_base(int(os.environ.get("CNAI_SIM_PORT_BASE", "26400")))


@dataclass(frozen=True)
class SimPaths:
    """Where the sim keeps its state: .cnai/sim (or CNAI_SIM_HOME)."""

    home: Path

    @classmethod
    def from_env(cls) -> SimPaths:
        home = Path(os.environ.get("CNAI_SIM_HOME", REPO_ROOT / ".cnai" / "sim"))
        return cls(home.resolve())

    @property
    def local(self) -> LocalPaths:
        """The same layout the local runtime's supervisor helpers expect (logs, socket, config)."""
        return LocalPaths(home=self.home, venvs_root=self.home / "unused-venvs")

    @property
    def pki(self) -> Path:
        return self.home / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    def kubeconfig_of(self, component: str) -> Path:
        return self.home / "config" / f"{component}.kubeconfig"

    def cert(self, name: str) -> Path:
        return self.pki / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.pki / f"{name}.key"

    @property
    def ca(self) -> Path:
        return self.cert("ca")

    def data(self, component: str) -> Path:
        return self.home / "data" / component

    def log(self, server: str) -> Path:
        return self.local.logs / f"{server}.log"

    @property
    def logs(self) -> Path:
        return self.local.logs

    @property
    def kueue_certs(self) -> Path:
        return self.home / "kueue-certs"

    @property
    def jobset_certs(self) -> Path:
        """JobSet's webhook and metrics serving certificate (the sim's CA; JobSet's own rotation is off)."""
        return self.home / "jobset-certs"

    @property
    def kserve_tmp(self) -> Path:
        """KServe's TMPDIR: its webhook server reads tls.crt/tls.key from <TMPDIR>/k8s-webhook-server/
        serving-certs (controller-runtime's default; the manager has no flag for it)."""
        return self.home / "kserve-tmp"

    @property
    def kserve_certs(self) -> Path:
        return self.kserve_tmp / "k8s-webhook-server" / "serving-certs"

    @property
    def charts_cache(self) -> Path:
        return self.home / "charts"

    @property
    def state(self) -> Path:
        return self.home / "state.json"

    @property
    def installed_objects(self) -> Path:
        """Keys of the objects `sim up` installed itself (modules/sim/postrender.py keeps Helm off them)."""
        return self.home / "installed-objects.json"

    @property
    def installable_charts(self) -> Path:
        return self.home / "installable-charts"

    @property
    def pulumi(self) -> Path:
        """The Pulumi engine's home, file backend and passphrase (modules/sim/pulumi.py)."""
        return self.home / "pulumi"


def kubeconfig(paths: SimPaths, ports: SimPorts, identity: str, context: str = "cnai-sim") -> str:
    """A kubeconfig for one identity, with file references to the PKI (nothing secret inline)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": f"https://{LOOPBACK}:{ports.apiserver}",
                    "certificate-authority": str(paths.ca),
                },
            }
        ],
        "users": [
            {
                "name": identity,
                "user": {"client-certificate": str(paths.cert(identity)), "client-key": str(paths.key(identity))},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": identity}}],
        "current-context": context,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _kubeconfig_file(paths: SimPaths, ports: SimPorts, identity: str) -> ConfigFile:
    return ConfigFile(str(paths.kubeconfig_of(identity)), kubeconfig(paths, ports, identity), 0o600)


def etcd(paths: SimPaths, ports: SimPorts, kube: str) -> Server:
    peer = f"http://{LOOPBACK}:{ports.etcd_peer}"
    client = f"https://{LOOPBACK}:{ports.etcd}"
    return Server(
        name="etcd",
        component="sim",
        command=[
            kube,
            "etcd",
            "--name=sim",
            f"--data-dir={paths.data('etcd')}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=sim={peer}",
            f"--listen-metrics-urls=http://{LOOPBACK}:{ports.etcd_metrics}",
            f"--cert-file={paths.cert('etcd')}",
            f"--key-file={paths.key('etcd')}",
            f"--trusted-ca-file={paths.ca}",
            "--client-cert-auth",
            "--log-level=warn",
        ],
        ports={"client": ports.etcd, "peer": ports.etcd_peer, "metrics": ports.etcd_metrics},
        health_url=f"http://{LOOPBACK}:{ports.etcd_metrics}/health",
        directories=[str(paths.data("etcd"))],
        metrics_url=f"http://{LOOPBACK}:{ports.etcd_metrics}/metrics",
        priority=STORE_PRIORITY,
    )


def kube_apiserver(paths: SimPaths, ports: SimPorts, kube: str) -> Server:
    return Server(
        name="kube-apiserver",
        component="sim",
        command=[
            kube,
            "kube-apiserver",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={ports.apiserver}",
            f"--etcd-servers=https://{LOOPBACK}:{ports.etcd}",
            f"--etcd-cafile={paths.ca}",
            f"--etcd-certfile={paths.cert('apiserver-etcd-client')}",
            f"--etcd-keyfile={paths.key('apiserver-etcd-client')}",
            f"--tls-cert-file={paths.cert('apiserver')}",
            f"--tls-private-key-file={paths.key('apiserver')}",
            f"--client-ca-file={paths.ca}",
            "--authorization-mode=Node,RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={paths.cert('service-account')}",
            f"--service-account-signing-key-file={paths.key('service-account')}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints validation refuses.
            "--endpoint-reconciler-type=none",
            "--enable-admission-plugins=NodeRestriction",
            # As kubeadm, EKS and GKE: the GPU Operator's and node exporters' DaemonSets are privileged
            # (Pod Security decides per namespace); the flag's default refuses every privileged pod.
            "--allow-privileged=true",
            "--profiling=false",
        ],
        ports={"https": ports.apiserver},
        health_url=f"https://{LOOPBACK}:{ports.apiserver}/readyz",
        # It calls webhooks and nothing outside the machine: a proxy the machine's environment names must
        # not carry a call to a Service name (one did, before the Helm post-renderer kept those webhooks out).
        env={"NO_PROXY": "*", "no_proxy": "*"},
        stop_wait_seconds=15,
        priority=API_PRIORITY,
    )


def _component_flags(paths: SimPaths, component: str, port: int) -> list[str]:
    config = str(paths.kubeconfig_of(component))
    return [
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        "--leader-elect=false",
    ]


def kube_controller_manager(paths: SimPaths, ports: SimPorts, kube: str) -> Server:
    name = "kube-controller-manager"
    return Server(
        name=name,
        component="sim",
        command=[
            kube,
            name,
            *_component_flags(paths, name, ports.controller_manager),
            f"--service-account-private-key-file={paths.key('service-account')}",
            f"--root-ca-file={paths.ca}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={paths.ca}",
            f"--cluster-signing-key-file={paths.key('ca')}",
        ],
        ports={"https": ports.controller_manager},
        health_url=f"https://{LOOPBACK}:{ports.controller_manager}/healthz",
        files=[_kubeconfig_file(paths, ports, name)],
    )


def kube_scheduler(paths: SimPaths, ports: SimPorts, kube: str) -> Server:
    name = "kube-scheduler"
    return Server(
        name=name,
        component="sim",
        command=[kube, name, *_component_flags(paths, name, ports.scheduler)],
        ports={"https": ports.scheduler},
        health_url=f"https://{LOOPBACK}:{ports.scheduler}/healthz",
        files=[_kubeconfig_file(paths, ports, name)],
    )


def kwok(paths: SimPaths, ports: SimPorts, kwok_binary: str, stages: str) -> Server:
    key, value = KWOK_NODE_ANNOTATION
    return Server(
        name="kwok",
        component="sim",
        command=[
            kwok_binary,
            f"--kubeconfig={paths.kubeconfig_of('kwok')}",
            f"--config={stages}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={key}={value}",
            f"--node-ip={LOOPBACK}",
            f"--cidr={POD_CIDR}",
            f"--server-address={LOOPBACK}:{ports.kwok}",
            "--node-lease-duration-seconds=40",
        ],
        ports={"http": ports.kwok},
        health_url=f"http://{LOOPBACK}:{ports.kwok}/healthz",
        files=[_kubeconfig_file(paths, ports, "kwok")],
    )


def kueue_config(manager_config: dict, paths: SimPaths, ports: SimPorts) -> dict:
    """cnai's Kueue Configuration (modules.components.kueue.kueue_manager_config) with the sim's process
    settings: loopback listeners, no leader election, and Kueue's own certificate management, which
    finds the certificate the sim put in its Secret valid, writes it to certDir and injects its CA
    into the webhook configurations and CRDs. (Without it, Kueue reads its metrics certificate from
    the fixed path /etc/kueue/metrics/certs.)"""
    return {
        **manager_config,
        "namespace": KUEUE_NAMESPACE,
        "leaderElection": {"leaderElect": False},
        "health": {"healthProbeBindAddress": f"{LOOPBACK}:{ports.kueue_health}"},
        "metrics": {**manager_config.get("metrics", {}), "bindAddress": f"{LOOPBACK}:{ports.kueue_metrics}"},
        "webhook": {"host": LOOPBACK, "port": ports.kueue_webhook, "certDir": str(paths.kueue_certs)},
        "internalCertManagement": {
            "enable": True,
            "webhookServiceName": KUEUE_WEBHOOK_SERVICE,
            "webhookSecretName": KUEUE_WEBHOOK_SECRET,
        },
        "visibilityServer": {"bindAddress": LOOPBACK, "bindPort": ports.kueue_visibility},
    }


def kueue(paths: SimPaths, ports: SimPorts, kueue_binary: str, manager_config: dict) -> Server:
    config_path = paths.home / "config" / "kueue-config.yaml"
    config = yaml.safe_dump(kueue_config(manager_config, paths, ports), sort_keys=False)
    return Server(
        name="kueue",
        component="sim",
        # --kubeconfig (controller-runtime's flag) also feeds the visibility server's delegated authn/z.
        command=[kueue_binary, f"--config={config_path}", f"--kubeconfig={paths.kubeconfig_of('kueue')}"],
        env={"KUBECONFIG": str(paths.kubeconfig_of("kueue"))},
        ports={
            "webhook": ports.kueue_webhook,
            "health": ports.kueue_health,
            "metrics": ports.kueue_metrics,
            "visibility": ports.kueue_visibility,
        },
        health_url=f"http://{LOOPBACK}:{ports.kueue_health}/readyz",
        files=[ConfigFile(str(config_path), config, 0o600), _kubeconfig_file(paths, ports, "kueue")],
        directories=[str(paths.kueue_certs)],
        autostart=False,  # started once its CRDs and webhook certificate exist
        priority=CONTROLLER_PRIORITY,
    )


def kserve(paths: SimPaths, ports: SimPorts, kserve_binary: str) -> Server:
    """KServe's controller manager; it reads its inferenceservice-config ConfigMap from POD_NAMESPACE."""
    return Server(
        name="kserve",
        component="sim",
        command=[
            kserve_binary,
            f"--metrics-addr={LOOPBACK}:{ports.kserve_metrics}",
            f"--health-probe-addr={LOOPBACK}:{ports.kserve_health}",
            f"--webhook-port={ports.kserve_webhook}",
        ],
        env={
            "KUBECONFIG": str(paths.kubeconfig_of("kserve")),
            "POD_NAMESPACE": KSERVE_NAMESPACE,
            "TMPDIR": str(paths.kserve_tmp),
        },
        ports={"webhook": ports.kserve_webhook, "health": ports.kserve_health, "metrics": ports.kserve_metrics},
        health_url=f"http://{LOOPBACK}:{ports.kserve_health}/readyz",
        files=[_kubeconfig_file(paths, ports, "kserve")],
        directories=[str(paths.kserve_certs)],
        autostart=False,  # started once its CRDs, RBAC and configuration exist
        priority=CONTROLLER_PRIORITY,
    )


def jobset_config(paths: SimPaths, ports: SimPorts) -> dict:
    """JobSet's Configuration for a process on loopback. Its own certificate rotation is off: it waits
    for its certificates in a fixed /tmp folder, which two sims on one machine would share; the sim
    gives it a certificate from its CA in its own folder, and that CA in the webhook configurations."""
    return {
        "apiVersion": "config.jobset.x-k8s.io/v1alpha1",
        "kind": "Configuration",
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "health": {"healthProbeBindAddress": f"{LOOPBACK}:{ports.jobset_health}"},
        "metrics": {"bindAddress": f"{LOOPBACK}:{ports.jobset_metrics}", "certDir": str(paths.jobset_certs)},
        "webhook": {"host": LOOPBACK, "port": ports.jobset_webhook, "certDir": str(paths.jobset_certs)},
    }


def jobset(paths: SimPaths, ports: SimPorts, jobset_binary: str) -> Server:
    """JobSet's controller: the gangs of Jobs Kueue's jobset integration admits all or nothing."""
    config_path = paths.home / "config" / "jobset-config.yaml"
    return Server(
        name="jobset",
        component="sim",
        command=[jobset_binary, f"--config={config_path}", f"--kubeconfig={paths.kubeconfig_of('jobset')}"],
        env={"KUBECONFIG": str(paths.kubeconfig_of("jobset"))},
        ports={"webhook": ports.jobset_webhook, "health": ports.jobset_health, "metrics": ports.jobset_metrics},
        health_url=f"http://{LOOPBACK}:{ports.jobset_health}/readyz",
        files=[
            ConfigFile(str(config_path), yaml.safe_dump(jobset_config(paths, ports), sort_keys=False), 0o600),
            _kubeconfig_file(paths, ports, "jobset"),
        ],
        directories=[str(paths.jobset_certs)],
        autostart=False,  # started once its CRDs, RBAC and webhooks exist
        priority=CONTROLLER_PRIORITY,
    )


def provisioner(paths: SimPaths, ports: SimPorts) -> Server:
    """The sim's volume provisioner (modules/sim/provisioner.py): binds the charts' claims."""
    return Server(
        name="provisioner",
        component="sim",
        command=[
            sys.executable,
            "-m",
            "modules.sim.provisioner",
            str(paths.kubeconfig_of("provisioner")),
            str(ports.provisioner_health),
        ],
        ports={"health": ports.provisioner_health},
        health_url=f"http://{LOOPBACK}:{ports.provisioner_health}/healthz",
        files=[_kubeconfig_file(paths, ports, "provisioner")],
        autostart=False,  # started with the controllers, once its StorageClass exists
        priority=CONTROLLER_PRIORITY,
    )


def control_plane(paths: SimPaths, ports: SimPorts, kube: str) -> list[Server]:
    """What must be up before anything is applied: etcd, the API server, controller-manager, scheduler."""
    return [
        etcd(paths, ports, kube),
        kube_apiserver(paths, ports, kube),
        kube_controller_manager(paths, ports, kube),
        kube_scheduler(paths, ports, kube),
    ]


def karpenter(paths: SimPaths, ports: SimPorts, karpenter_binary: str, catalogue: list[dict]) -> Server:
    """Karpenter with its kwok cloud provider, reading the instance catalogue the sim derives from the
    spec (modules/sim/karpenter.py). It binds its metrics and health ports on every interface (its
    options take ports, not addresses): read-only endpoints, no webhook."""
    catalogue_path = paths.home / "config" / "karpenter-instance-types.json"
    return Server(
        name="karpenter",
        component="sim",
        command=[karpenter_binary],
        env={
            "KUBECONFIG": str(paths.kubeconfig_of("karpenter")),
            "INSTANCE_TYPES_FILE_PATH": str(catalogue_path),
            "DISABLE_LEADER_ELECTION": "true",
            "METRICS_PORT": str(ports.karpenter_metrics),
            "HEALTH_PROBE_PORT": str(ports.karpenter_health),
        },
        ports={"metrics": ports.karpenter_metrics, "health": ports.karpenter_health},
        health_url=f"http://{LOOPBACK}:{ports.karpenter_health}/readyz",
        files=[
            ConfigFile(str(catalogue_path), json.dumps(catalogue, indent=2), 0o600),
            _kubeconfig_file(paths, ports, "karpenter"),
        ],
        autostart=False,  # started once its CRDs and the NodePools exist
        priority=CONTROLLER_PRIORITY,
    )
