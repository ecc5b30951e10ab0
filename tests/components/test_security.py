"""Security baseline: Pod Security labels, NetworkPolicies, team quotas and RBAC.

The NetworkPolicies are tested by what they let through: a small evaluator reads the rendered
policies and answers "may this pod (or address) reach that one on this port?" the way a policy-
enforcing CNI does — both the source's egress and the destination's ingress must allow it.
It matches namespace selectors, pod selectors (matchLabels and matchExpressions), ipBlocks (for
addresses outside the pod network only) and numeric ports with their protocol; nothing else.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from modules.components import kserve, mlflow
from modules.components.catalog import COMPONENTS
from modules.components.contents import all_objects, helm_releases
from modules.components.endpoints import cluster_endpoints
from modules.components.observability import NODE_METRICS_PORTS, PROMETHEUS_PODS, otel_collector_values
from modules.components.policies import CLIENT_LABEL, NAME_LABEL
from modules.components.security import DNS_PODS, platform_services, security_objects, team_gpu_ceiling
from modules.spec.loader import REPO_ROOT
from modules.spec.namespaces import KUBE_SYSTEM, PLATFORM_NAMESPACES
from tests.specs import CLUSTER_STAND_INS, stand_in_spec

API_SERVER_CALLBACKS = {c.key: c.api_callbacks for c in COMPONENTS if c.api_callbacks}
# shared/ lies beside the checkout (developers and CI); CNAI_CHARTS points elsewhere.
CHARTS = Path(os.environ.get("CNAI_CHARTS", REPO_ROOT.parent / "shared" / "charts"))
POSTGRES_PORT = 5432  # CloudNativePG's instances (MLflow's database)
SEAWEEDFS_INTERNAL_PORTS = (8888, 9333, 8080)  # filer HTTP, master, volume: they bypass the S3 keys
API_SERVER = {"kind": "172.18.0.2", "existing": "10.20.0.5", "eks": "10.0.3.17", "gke": "172.16.0.2"}
SOME_PUBLIC_HOST = "198.51.100.7"  # stands for s3.<region>.amazonaws.com / storage.googleapis.com


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


# ---------------------------------------------------------------------------------------------------
# The evaluator


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Address:
    """Anything that is not a pod: the API server, a node, a service on the internet."""

    ip: str


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector ({} selects everything)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if not {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]:
            return False
    return True


class Network:
    """The rendered NetworkPolicies of one environment, asked about single connections."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.policies: dict[str, list[dict[str, Any]]] = {}
        for policy in by_kind(objects, "NetworkPolicy"):
            self.policies.setdefault(policy["metadata"]["namespace"], []).append(policy)
        # The API server labels every namespace with its name; namespaces cnai does not render
        # (kube-system, default) carry only that label.
        self.namespace_labels = {
            ns["metadata"]["name"]: ns["metadata"]["labels"] | {NAME_LABEL: ns["metadata"]["name"]}
            for ns in by_kind(objects, "Namespace")
        }

    def labels_of(self, namespace: str) -> dict[str, str]:
        return self.namespace_labels.get(namespace, {NAME_LABEL: namespace})

    def allows(self, source: Pod | Address, destination: Pod | Address, port: int, protocol: str = "TCP") -> bool:
        return self._admits(source, destination, port, protocol, "Egress") and self._admits(
            destination, source, port, protocol, "Ingress"
        )

    def _admits(self, pod: Pod | Address, peer: Pod | Address, port: int, protocol: str, direction: str) -> bool:
        """Whether `pod`'s policies in `direction` let it talk to `peer` (no policy applies to an address)."""
        if isinstance(pod, Address):
            return True
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        applying = [
            p
            for p in self.policies.get(pod.namespace, [])
            if direction in self._types(p) and selects(p["spec"]["podSelector"], pod.labels)
        ]
        if not applying:
            return True  # not isolated in this direction
        return any(
            self._peers_match(rule.get(peers_key), peer, pod.namespace)
            and self._ports_match(rule.get("ports"), port, protocol)
            for p in applying
            for rule in p["spec"].get(key, [])
        )

    @staticmethod
    def _types(policy: dict[str, Any]) -> list[str]:
        spec = policy["spec"]
        return spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])]

    def _peers_match(self, peers: list[dict[str, Any]] | None, other: Pod | Address, own_namespace: str) -> bool:
        if not peers:
            return True  # no peers: any source or destination
        return any(self._peer_matches(peer, other, own_namespace) for peer in peers)

    def _peer_matches(self, peer: dict[str, Any], other: Pod | Address, own_namespace: str) -> bool:
        if "ipBlock" in peer:
            if not isinstance(other, Address):
                return False  # ipBlocks are for addresses outside the pod network
            ip = ipaddress.ip_address(other.ip)
            block = peer["ipBlock"]
            return ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(cut) for cut in block.get("except", [])
            )
        if isinstance(other, Address):
            return False
        if "namespaceSelector" in peer:
            namespace_ok = selects(peer["namespaceSelector"], self.labels_of(other.namespace))
        else:
            namespace_ok = other.namespace == own_namespace
        return namespace_ok and selects(peer.get("podSelector", {}), other.labels)

    @staticmethod
    def _ports_match(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
        if not ports:
            return True
        for p in ports:
            assert isinstance(p.get("port", 0), int), f"named port {p['port']}: the evaluator reads numbers only"
            if p.get("protocol", "TCP") == protocol and (
                "port" not in p or p["port"] == port or p["port"] <= port <= p.get("endPort", p["port"])
            ):
                return True
        return False


def network(env: str) -> tuple[Any, Network]:
    spec = stand_in_spec(env)
    return spec, Network(all_objects(spec))


def at(url: str, labels: dict[str, str] | None = None) -> tuple[Pod, int]:
    """The pod behind an in-cluster URL (<service>.<namespace>.svc:<port>) and its port."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return Pod(parts.hostname.split(".")[1], labels or {}), parts.port


def policy_object(ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": ns}, "spec": spec}


def test_the_evaluator_isolates_only_selected_pods_and_needs_both_ends_to_allow():
    assert Network([]).allows(Pod("a"), Pod("b"), 80)  # no policy: nothing isolated
    deny_egress = policy_object("a", {"podSelector": {}, "policyTypes": ["Egress"]})
    closed = Network([deny_egress])
    assert not closed.allows(Pod("a"), Pod("b"), 80) and closed.allows(Pod("b"), Pod("a"), 80)
    to_x = {"to": [{"podSelector": {"matchLabels": {"app": "x"}}}], "ports": [{"port": 80}]}
    some = Network([deny_egress, policy_object("a", {"podSelector": {}, "egress": [to_x], "policyTypes": ["Egress"]})])
    assert some.allows(Pod("a"), Pod("a", {"app": "x"}), 80)
    assert not some.allows(Pod("a"), Pod("a", {"app": "x"}), 81)
    assert not some.allows(Pod("a"), Pod("a", {"app": "x"}), 80, "UDP")
    assert not some.allows(Pod("a"), Pod("b", {"app": "x"}), 80)  # no namespaceSelector: its own namespace
    deny_ingress = policy_object("a", {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress"]})
    both = Network([deny_egress, deny_ingress, policy_object("a", {"podSelector": {}, "egress": [to_x]})])
    assert not both.allows(Pod("a"), Pod("a", {"app": "x"}), 80)  # egress allows it, ingress does not


# ---------------------------------------------------------------------------------------------------
# Default deny


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_every_namespace_cnai_uses_denies_all_ingress_and_egress(env):
    spec, net = network(env)
    objects = all_objects(spec)
    created = {o["metadata"]["name"] for o in by_kind(objects, "Namespace")}
    used = {o["metadata"]["namespace"] for o in objects if "namespace" in o["metadata"]}
    used |= {r["namespace"] for r in helm_releases(spec)}
    assert used <= created, f"objects or releases outside the namespaces cnai creates: {used - created}"
    for ns in created:
        names = {p["metadata"]["name"]: p["spec"] for p in net.policies[ns]}
        assert names["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}, ns
        assert names["default-deny-egress"] == {"podSelector": {}, "policyTypes": ["Egress"]}, ns
        anything = Pod(ns, {"app": "anything"})
        elsewhere = next(Pod(other) for other in created if other != ns)
        assert not net.allows(anything, Address(SOME_PUBLIC_HOST), 22), ns
        assert not net.allows(Address(SOME_PUBLIC_HOST), anything, 22), ns
        assert not net.allows(anything, elsewhere, 31337) and not net.allows(elsewhere, anything, 31337), ns
        assert net.allows(anything, Pod(ns, {"app": "peer"}), 31337), ns  # the same namespace stays open
        # DNS, both protocols, from every namespace.
        dns = Pod(KUBE_SYSTEM, DNS_PODS)
        assert net.allows(anything, dns, 53, "UDP") and net.allows(anything, dns, 53, "TCP"), ns
        assert not net.allows(anything, Pod(KUBE_SYSTEM, {"k8s-app": "metrics-server"}), 53, "UDP"), ns


def test_every_namespace_has_pod_security_labels():
    objects = security_objects(stand_in_spec("prod"))
    namespaces = {o["metadata"]["name"]: o["metadata"]["labels"] for o in by_kind(objects, "Namespace")}
    for name, labels in namespaces.items():
        assert labels["pod-security.kubernetes.io/enforce"] in ("restricted", "privileged"), name
    privileged = {n for n, labels in namespaces.items() if labels["pod-security.kubernetes.io/enforce"] == "privileged"}
    assert privileged == {"gpu-operator", "cnai-observability"}


def test_every_allow_is_its_own_named_policy():
    objects = security_objects(stand_in_spec("prod"))
    for ns in {o["metadata"]["namespace"] for o in by_kind(objects, "NetworkPolicy")}:
        names = [p["metadata"]["name"] for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["namespace"] == ns]
        assert len(names) == len(set(names)), ns
        assert all(re.fullmatch(r"default-deny-(ingress|egress)|allow-[a-z-]+", n) for n in names), names


# ---------------------------------------------------------------------------------------------------
# What a team namespace may reach


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_team_pods_reach_dns_the_object_store_mlflow_otlp_and_the_platform_they_use(env):
    spec, net = network(env)
    document = cluster_endpoints(spec)
    job = Pod(spec.teams[0].namespace_name, {"job-name": "cnai-smoke-suite"})
    assert net.allows(job, Pod(KUBE_SYSTEM, DNS_PODS), 53, "UDP") and net.allows(job, Pod(KUBE_SYSTEM, DNS_PODS), 53)
    store = document.object_store
    assert store is not None
    if store.credentials.kubernetes_secret:  # the in-cluster SeaweedFS
        assert net.allows(job, *at(store.s3_url, {"app.kubernetes.io/component": "filer"}))
    else:  # the cloud's store on its public HTTPS endpoint, signed by the workload identity
        assert net.allows(job, Address(SOME_PUBLIC_HOST), urlsplit(store.s3_url).port or 443)
    assert document.mlflow_url and net.allows(job, *at(document.mlflow_url, mlflow.SELECTOR))
    assert document.otlp_traces_url and net.allows(job, *at(document.otlp_traces_url))
    otlp = otel_collector_values(spec)["config"]["receivers"]["otlp"]["protocols"]
    grpc = int(otlp["grpc"]["endpoint"].rsplit(":", 1)[1])
    assert net.allows(job, at(document.otlp_traces_url)[0], grpc)
    assert document.vector_db_uri and net.allows(job, *at(document.vector_db_uri))
    assert document.prometheus_url and net.allows(job, *at(document.prometheus_url, PROMETHEUS_PODS))
    assert document.inference and net.allows(job, *at(document.inference.url))  # its own predictor


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_team_pods_cannot_reach_other_teams_the_database_internals_or_the_api_server(env):
    spec, net = network(env)
    job = Pod(spec.teams[0].namespace_name, {"job-name": "train"})
    for other in spec.teams[1:]:
        for port in (80, 8080, 22):
            assert not net.allows(job, Pod(other.namespace_name, {"app": "x"}), port)
            assert not net.allows(Pod(other.namespace_name), job, port)
    mlflow_ns = PLATFORM_NAMESPACES["mlflow"]
    database = Pod(mlflow_ns, {"cnpg.io/cluster": mlflow.DB_CLUSTER})
    assert not net.allows(job, database, POSTGRES_PORT)
    assert not net.allows(job, Pod(mlflow_ns, mlflow.SELECTOR), POSTGRES_PORT)
    assert not net.allows(job, database, mlflow.PORT)  # MLflow's port, but not MLflow's pod
    storage = PLATFORM_NAMESPACES["object_storage"]
    for port in SEAWEEDFS_INTERNAL_PORTS:
        assert not net.allows(job, Pod(storage, {"app.kubernetes.io/component": "filer"}), port)
    api = Address(API_SERVER[spec.cluster.target])
    assert not net.allows(job, api, 443) and not net.allows(job, api, 6443)
    for component, ports in API_SERVER_CALLBACKS.items():  # webhooks are the API server's, not a tenant's
        for port in ports:
            assert not net.allows(job, Pod(PLATFORM_NAMESPACES[component]), port)
    if spec.cluster.target != "gke":  # on GKE the metadata server is the workload identity's endpoint
        assert not net.allows(job, Address("169.254.169.254"), 80)


# ---------------------------------------------------------------------------------------------------
# What the platform's own namespaces need


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_platform_components_reach_what_they_need_and_no_more(env):
    spec, net = network(env)
    ns = dict(PLATFORM_NAMESPACES)
    api = Address(API_SERVER[spec.cluster.target])
    for component in ("kueue", "kserve", "mlflow", "observability", "cert_manager"):
        controller = Pod(ns[component], {"app": "controller"})
        assert net.allows(controller, api, 443) and net.allows(controller, api, 6443), component
        for port in API_SERVER_CALLBACKS.get(component, ()):
            assert net.allows(api, controller, port), component
    for component in ("object_storage", "vector_db"):
        assert not net.allows(Pod(ns[component]), api, 443), f"{component} has no business with the API server"
    # Stores: MLflow (artifacts, database backups) and Milvus (segments).
    services = platform_services(spec)
    store = services["object-store"]
    for client in (Pod(ns["mlflow"], mlflow.SELECTOR), Pod(ns["mlflow"], {"cnpg.io/cluster": mlflow.DB_CLUSTER})):
        target = Pod(store.namespace) if store.namespace else Address(SOME_PUBLIC_HOST)
        assert net.allows(client, target, store.ports[0])
        assert not net.allows(client, Pod(spec.teams[0].namespace_name), store.ports[0])
    assert net.allows(Pod(ns["mlflow"], mlflow.SELECTOR), Pod(ns["mlflow"], {"cnpg.io/cluster": "x"}), POSTGRES_PORT)
    # Observability: Prometheus scrapes every namespace and the nodes; the collector exports traces to MLflow.
    prometheus = Pod(ns["observability"], PROMETHEUS_PODS)
    grafana = Pod(ns["observability"], {"app.kubernetes.io/name": "grafana"})
    team_pod = Pod(spec.teams[0].namespace_name, {"app": "trainer"})
    assert net.allows(prometheus, team_pod, 9400) and net.allows(prometheus, Pod(ns["mlflow"]), mlflow.PORT)
    assert all(net.allows(prometheus, Address("10.0.1.20"), port) for port in NODE_METRICS_PORTS.values())
    assert not net.allows(grafana, team_pod, 9400)
    collector = Pod(ns["observability"], {"app.kubernetes.io/name": "opentelemetry-collector"})
    assert net.allows(collector, Pod(ns["mlflow"], mlflow.SELECTOR), mlflow.PORT)
    # Nothing reaches the internet on an arbitrary port; the in-cluster store reaches only DNS and itself.
    for component in (c for c in ns if ns[c] in net.namespace_labels):  # the namespaces this env creates
        assert not net.allows(Pod(ns[component]), Address(SOME_PUBLIC_HOST), 22), component
    assert not net.allows(Pod(ns["object_storage"]), Address(SOME_PUBLIC_HOST), 443)
    assert not net.allows(Pod(ns["vector_db"]), Pod(ns["mlflow"], mlflow.SELECTOR), mlflow.PORT)


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_only_the_gateway_reaches_predictors_and_only_in_namespaces_labelled_for_it(env):
    spec, net = network(env)
    proxy = Pod(kserve.NAMESPACE, kserve.PROXY_LABELS)
    listener = kserve.proxy_container_ports()[0]
    for team in spec.teams:
        predictor = Pod(team.namespace_name, {kserve.PREDICTOR_LABEL: "mlp", "component": "predictor"})
        assert net.allows(proxy, predictor, kserve.PREDICTOR_PORT)
        assert not net.allows(Address(SOME_PUBLIC_HOST), predictor, kserve.PREDICTOR_PORT)  # only through it
        assert not net.allows(proxy, Pod(team.namespace_name, {"job-name": "train"}), kserve.PREDICTOR_PORT)
        assert not net.allows(Pod(kserve.NAMESPACE, {"control-plane": "kserve-controller-manager"}), predictor, 8080)
        assert net.allows(Pod(team.namespace_name), proxy, listener)  # teams call models through the gateway
    # A predictor-looking pod in a namespace without the label (a platform one) is out of the gateway's reach.
    assert not net.allows(proxy, Pod(PLATFORM_NAMESPACES["mlflow"], {kserve.PREDICTOR_LABEL: "x"}), 8080)
    assert net.allows(Address(SOME_PUBLIC_HOST), proxy, listener)  # the front door faces outside clients
    assert not net.allows(Address(SOME_PUBLIC_HOST), proxy, 19000)


def test_team_namespaces_are_restricted_with_least_privilege_rbac():
    spec = stand_in_spec("prod")
    objects = security_objects(spec)
    for team in spec.teams:
        ns = team.namespace_name
        role = next(o for o in by_kind(objects, "Role") if o["metadata"]["namespace"] == ns)
        verbs = {v for rule in role["rules"] for v in rule["verbs"]}
        assert verbs <= {"create", "get", "list", "watch", "delete"}
        assert not any("*" in rule["resources"] or "secrets" in rule["resources"] for rule in role["rules"])
        sa = next(o for o in by_kind(objects, "ServiceAccount") if o["metadata"]["namespace"] == ns)
        assert sa["automountServiceAccountToken"] is False


def test_team_gpu_ceiling_is_nominal_plus_borrowing_capped_by_the_pool():
    spec = stand_in_spec("prod")
    research, serving = spec.teams
    assert team_gpu_ceiling(spec, research) == (24 + 8) + 112  # a100-mig: no limit -> the whole pool
    assert team_gpu_ceiling(spec, serving) == 98 + 8


def test_disabled_component_gets_no_namespace():
    names = {o["metadata"]["name"] for o in by_kind(security_objects(stand_in_spec("kind")), "Namespace")}
    assert "gpu-operator" not in names and "team-research" in names


def test_served_components_accept_only_labelled_platform_clients_on_their_ports():
    objects = security_objects(stand_in_spec("kind"))
    served = {
        o["metadata"]["name"]: o["metadata"]["namespace"]
        for o in by_kind(objects, "NetworkPolicy")
        if o["metadata"]["name"].startswith("allow-clients-")
    }
    assert served == {
        "allow-clients-object-store": "cnai-storage",
        "allow-clients-mlflow": "cnai-mlflow",
        "allow-clients-milvus": "cnai-milvus",
        "allow-clients-otlp": "cnai-observability",
        "allow-clients-prometheus": "cnai-observability",
        "allow-clients-gateway": "kserve",
    }
    clients = {
        o["metadata"]["name"]
        for o in by_kind(objects, "Namespace")
        if o["metadata"]["labels"].get(CLIENT_LABEL) == "true"
    }
    assert {"team-research", "kserve", "cnai-mlflow", "cnai-milvus", "cnai-observability"} == clients
    net = Network(objects)
    assert not net.allows(Pod("default"), Pod("cnai-mlflow", mlflow.SELECTOR), mlflow.PORT)  # not a client


# ---------------------------------------------------------------------------------------------------
# Ports only the upstream charts declare, checked against the pinned charts


def chart_file(*parts: str) -> str:
    path = CHARTS.joinpath(*parts)
    assert path.is_file(), f"pinned chart file not found at {path}: set CNAI_CHARTS"
    return path.read_text()


def test_ports_named_after_the_charts_match_the_pinned_charts():
    kueue = dict(
        re.findall(r"containerPort: (\d+)\s+name: (\S+)", chart_file("kueue", "templates", "manager", "manager.yaml"))
    )
    assert tuple(int(p) for p, name in kueue.items() if name in ("webhook-server", "visibility")) == (8082, 9443)
    assert set(API_SERVER_CALLBACKS["kueue"]) == {8082, 9443}
    kserve_manifests = chart_file("kserve-resources", "files", "kserve", "resources.yaml")
    assert re.search(rf"containerPort: {API_SERVER_CALLBACKS['kserve'][0]}\s+name: webhook-server", kserve_manifests)
    assert "port: 9443" in chart_file("gateway-helm", "templates", "envoy-proxy-topology-injector-webhook.yaml")
    cert_manager = yaml.safe_load(chart_file("cert-manager", "values.yaml"))
    assert API_SERVER_CALLBACKS["cert_manager"] == (cert_manager["webhook"]["securePort"],)
    cnpg = yaml.safe_load(chart_file("cloudnative-pg", "values.yaml"))
    assert API_SERVER_CALLBACKS["mlflow"] == (cnpg["webhook"]["port"],)
    stack = yaml.safe_load(chart_file("kube-prometheus-stack", "values.yaml"))
    assert API_SERVER_CALLBACKS["observability"] == (stack["prometheusOperator"]["tls"]["internalPort"],)
    assert NODE_METRICS_PORTS["etcd"] == stack["kubeEtcd"]["service"]["targetPort"]
    assert NODE_METRICS_PORTS["kube-proxy"] == stack["kubeProxy"]["service"]["targetPort"]
    for name, folder in (("kube-scheduler", "kube-scheduler"), ("kube-controller-manager", "kube-controller-manager")):
        template = chart_file("kube-prometheus-stack", "templates", "exporters", folder, "service.yaml")
        assert f"DefaultSecurePort := {NODE_METRICS_PORTS[name]}" in template
    seaweedfs = yaml.safe_load(chart_file("seaweedfs", "values.yaml"))
    assert platform_services(stand_in_spec("kind"))["object-store"].ports == (seaweedfs["s3"]["port"],)
