"""Security baseline: namespaces with Pod Security labels, NetworkPolicies, team quotas and RBAC.

Every namespace cnai creates denies all ingress and all egress (`default-deny-ingress`,
`default-deny-egress`). Each allow is its own NetworkPolicy, named for the traffic it lets through:
`allow-to-<peer>` (egress), `allow-from-<peer>` and `allow-clients-<service>` (ingress), plus
`allow-same-namespace` and `allow-prometheus-scrape`. Ports and namespaces come from where the
components declare them; the few that only the upstream charts declare are named here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi

from modules.cloud.identities import workloads
from modules.k8s.namespaces import COMPONENT_NAMESPACES, KUBE_SYSTEM, OBSERVABILITY_NAMESPACE, component_enabled
from modules.k8s.objects import k8s_object, metadata
from modules.k8s.pulumi_resources import child_of, object_group
from modules.spec import Spec, Team
from modules.spec.models import GPU_RESOURCE

NETWORK_API = "networking.k8s.io/v1"
NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every namespace
# Namespaces whose pods may call the platform's services (the services admit them by this label).
CLIENT_LABEL = "cnai.io/platform-client"
CLIENT_COMPONENTS = ("kserve", "mlflow", "vector_db", "observability")
# Namespaces whose routes the Gateway admits (modules/k8s/kserve.py): every team namespace, since any
# team may serve models (each gets a model ServiceAccount); no platform namespace.
GATEWAY_ACCESS_LABEL = "cnai.io/gateway-access"

# Cluster DNS: the kube-dns Service's pods (CoreDNS on kind, kubeadm and EKS; kube-dns on GKE).
DNS_PODS = {"k8s-app": "kube-dns"}
DNS_PORT = 53
# The API server is no pod and its address differs per target (kind: the control-plane node, 6443;
# EKS: ENIs in the VPC, 443; GKE: the control plane's private endpoint, 443). A NetworkPolicy sees the
# endpoint behind the `kubernetes` Service, so no selector names it, and the spec holds no address for
# it: the allow is by port alone, and only for the namespaces below.
API_SERVER_PORTS = (443, 6443)
# Components whose pods call the API server, and who does.
API_CLIENTS = {
    "gpu_operator": "the operator, NFD, GFD, the device plugin's config manager, the validator",
    "kueue": "Kueue's controller",
    "jobset": "JobSet's controller",
    "cert_manager": "cert-manager's controller, cainjector and webhook",
    "kserve": "KServe's controller and Envoy Gateway's",
    "mlflow": "CloudNativePG's operator and instance managers",
    "observability": "the Prometheus operator, kube-state-metrics, Prometheus's discovery, Grafana's sidecar",
    "karpenter": "Karpenter's controller (pods, nodes, NodeClaims)",
}
# Ports the API server calls back on (admission webhooks, aggregated APIs), as the pinned charts set
# them (tests/k8s/test_security.py reads the charts to check).
API_SERVER_CALLBACKS = {
    "kueue": (9443, 8082),  # webhooks; the visibility API server
    "jobset": (9443,),  # JobSet's webhooks
    "kserve": (9443,),  # KServe's webhooks; Envoy Gateway's topology injector
    "cert_manager": (10250,),  # webhook.securePort
    "mlflow": (9443,),  # CloudNativePG's webhooks
    "observability": (10250,),  # the Prometheus operator's admission webhook (tls.internalPort)
}
# Prometheus's targets that are nodes, not pods (kube-prometheus-stack's defaults); pods it reaches
# by namespace.
NODE_METRICS_PORTS = {
    "kubelet": 10250,
    "node-exporter": 9100,
    "kube-controller-manager": 10257,
    "kube-scheduler": 10259,
    "etcd": 2381,
    "kube-proxy": 10249,
}
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}  # set by the Prometheus operator
HTTP_PORT, HTTPS_PORT = 80, 443
# Cloud object stores and package mirrors answer on public addresses: allowed with the private and
# link-local ranges cut out, so such an allow is no way into the VPC, the nodes, other pods or the
# instance metadata service.
PUBLIC = {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]}
# Where a pod's cloud workload identity (modules/cloud/identities.py) gets its credentials: the EKS
# Pod Identity agent; GKE's metadata server (on Dataplane V2, which cnai's GKE clusters run).
IDENTITY_ENDPOINTS = {"eks": ("169.254.170.23/32", HTTP_PORT), "gke": ("169.254.169.254/32", HTTP_PORT)}


@dataclass(frozen=True)
class PlatformService:
    """A service other namespaces call: allowed out of its callers and into its own namespace."""

    name: str  # names both policies: allow-to-<name> in callers, allow-clients-<name> beside it
    component: str | None  # its namespace's key in COMPONENT_NAMESPACES; None: outside the cluster
    pods: dict[str, str]  # the pods that serve it ({}: any pod of its namespace)
    ports: tuple[int, ...]  # the ports its pods listen on (what a policy sees behind the Service)
    from_anywhere: bool = False  # admits any source, not only labelled platform clients

    @property
    def namespace(self) -> str | None:
        return COMPONENT_NAMESPACES[self.component][0] if self.component else None


# The services each component's namespace calls; team namespaces call every one.
CALLS: dict[str, tuple[str, ...]] = {
    "mlflow": ("object-store",),  # artifacts; CloudNativePG's base backups and WAL
    "vector_db": ("object-store",),  # Milvus's segments
    "observability": ("mlflow",),  # the OTel Collector exports traces to MLflow
}
# Teams: data and models (KServe's storage initializer runs in their namespace), runs and models in
# MLflow, vectors, traces and metrics (OTLP), metric queries (the smoke suite), models other teams serve.
TEAM_CALLS = ("object-store", "mlflow", "milvus", "otlp", "prometheus", "gateway")


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or {"http": HTTP_PORT, "https": HTTPS_PORT}[parts.scheme]


def platform_services(spec: Spec) -> dict[str, PlatformService]:
    """The services of this environment, by name. Ports come from the endpoints document handed to
    clients (each Service's port is its pods' port), MLflow's constant, the collector's receivers and
    the Gateway's listeners."""
    # Imported here: these modules import this one for COMPONENT_NAMESPACES.
    from modules.k8s import kserve, mlflow
    from modules.k8s.endpoints import cluster_endpoints
    from modules.k8s.object_storage import runs_in_cluster
    from modules.k8s.observability import otel_collector_values

    c = spec.components
    document = cluster_endpoints(spec)
    found: list[PlatformService] = []
    if document.object_store is not None:
        store = "object_storage" if runs_in_cluster(spec) else None  # None: the cloud's (S3, GCS)
        found.append(PlatformService("object-store", store, {}, (url_port(document.object_store.s3_url),)))
    if c.mlflow.enabled:
        found.append(PlatformService("mlflow", "mlflow", mlflow.SELECTOR, (mlflow.PORT,)))
    if document.vector_db_uri is not None:
        found.append(PlatformService("milvus", "vector_db", {}, (url_port(document.vector_db_uri),)))
    if document.prometheus_url is not None:  # observability on: the collector and Prometheus
        receivers = otel_collector_values(spec)["config"]["receivers"]["otlp"]["protocols"]
        otlp = tuple(int(r["endpoint"].rsplit(":", 1)[1]) for r in receivers.values())
        found.append(PlatformService("otlp", "observability", {}, otlp))
        found.append(
            PlatformService("prometheus", "observability", PROMETHEUS_PODS, (url_port(document.prometheus_url),))
        )
    if kserve.gateway_enabled(spec):
        # The platform's front door: clients outside the cluster reach it as well as teams.
        ports = kserve.proxy_container_ports()
        found.append(PlatformService("gateway", "kserve", kserve.PROXY_LABELS, ports, from_anywhere=True))
    return {s.name: s for s in found}


def namespace(name: str, level: str, client: bool = False, gateway: bool = False) -> dict[str, Any]:
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}
    if client:
        labels[CLIENT_LABEL] = "true"
    if gateway:
        labels[GATEWAY_ACCESS_LABEL] = "true"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name, labels=labels)}


def matching(labels: dict[str, str]) -> dict[str, Any]:
    """A label selector ({}: everything)."""
    return {"matchLabels": dict(labels)} if labels else {}


def in_namespace(ns: str, pods: dict[str, Any] | None = None) -> dict[str, Any]:
    """A peer: the pods of one namespace (all of them without a pod selector)."""
    peer: dict[str, Any] = {"namespaceSelector": matching({NAME_LABEL: ns})}
    return peer | ({"podSelector": pods} if pods else {})


def tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def network_policy(
    name: str,
    ns: str,
    pods: dict[str, Any] | None = None,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A NetworkPolicy for the selected pods (all of the namespace's by default), directions explicit."""
    spec: dict[str, Any] = {"podSelector": pods or {}}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    spec["policyTypes"] = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    return k8s_object(NETWORK_API, "NetworkPolicy", name, ns, spec=spec)


def network_policies(ns: str) -> list[dict[str, Any]]:
    """Every cnai namespace: deny all in and out, then allow the same namespace both ways, Prometheus
    scraping from observability, and DNS."""
    dns = {
        "to": [in_namespace(KUBE_SYSTEM, matching(DNS_PODS))],
        "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
    }
    return [
        k8s_object(
            NETWORK_API,
            "NetworkPolicy",
            "default-deny-ingress",
            ns,
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
        ),
        k8s_object(
            NETWORK_API, "NetworkPolicy", "default-deny-egress", ns, spec={"podSelector": {}, "policyTypes": ["Egress"]}
        ),
        network_policy(
            "allow-same-namespace",
            ns,
            ingress=[{"from": [{"podSelector": {}}]}],
            egress=[{"to": [{"podSelector": {}}]}],
        ),
        network_policy("allow-prometheus-scrape", ns, ingress=[{"from": [in_namespace(OBSERVABILITY_NAMESPACE)]}]),
        network_policy("allow-to-dns", ns, egress=[dns]),
    ]


def calls(spec: Spec, ns: str, names: tuple[str, ...], services: dict[str, PlatformService]) -> list[dict[str, Any]]:
    """Egress from a namespace to the platform services it calls (those this environment runs), and on
    a cloud store to the identity endpoint that signs its requests."""
    policies = []
    for name in names:
        service = services.get(name)
        if service is None:
            continue
        peer = (
            {"ipBlock": PUBLIC}
            if service.namespace is None
            else in_namespace(service.namespace, matching(service.pods))
        )
        policies.append(network_policy(f"allow-to-{name}", ns, egress=[{"to": [peer], "ports": tcp(*service.ports)}]))
    identity = IDENTITY_ENDPOINTS.get(spec.cluster.target)
    if identity and ns in {w.namespace for w in workloads(spec)}:
        cidr, port = identity
        rule = {"to": [{"ipBlock": {"cidr": cidr}}], "ports": tcp(port)}
        policies.append(network_policy("allow-to-workload-identity", ns, egress=[rule]))
    return policies


def served(service: PlatformService) -> dict[str, Any]:
    """Ingress to a service's pods on its ports: from labelled platform clients, or from anywhere."""
    assert service.namespace is not None
    rule: dict[str, Any] = {"ports": tcp(*service.ports)}
    if not service.from_anywhere:
        rule["from"] = [{"namespaceSelector": matching({CLIENT_LABEL: "true"})}]
    return network_policy(f"allow-clients-{service.name}", service.namespace, matching(service.pods), ingress=[rule])


def component_policies(spec: Spec, component: str, services: dict[str, PlatformService]) -> list[dict[str, Any]]:
    """What one platform namespace needs beyond the baseline."""
    ns = COMPONENT_NAMESPACES[component][0]
    policies = calls(spec, ns, CALLS.get(component, ()), services)
    if component in API_CLIENTS:
        policies.append(network_policy("allow-to-api-server", ns, egress=[{"ports": tcp(*API_SERVER_PORTS)}]))
    if component in API_SERVER_CALLBACKS:
        # From anywhere on these ports only: the API server is no pod (see API_SERVER_PORTS).
        ingress = [{"ports": tcp(*API_SERVER_CALLBACKS[component])}]
        policies.append(network_policy("allow-from-api-server", ns, ingress=ingress))
    if component == "observability":
        scrape = [{"to": [{"namespaceSelector": {}}]}, {"ports": tcp(*NODE_METRICS_PORTS.values())}]
        policies.append(network_policy("allow-prometheus-to-targets", ns, matching(PROMETHEUS_PODS), egress=scrape))
    if component == "kserve":
        policies += gateway_to_predictors(spec)
    if component == "karpenter":
        policies += karpenter_to_aws(spec)
    if component == "gpu_operator" and spec.components.gpu_operator.driver == "operator":
        # The driver container installs kernel headers from the distribution's package mirrors.
        rule = {"to": [{"ipBlock": PUBLIC}], "ports": tcp(HTTP_PORT, HTTPS_PORT)}
        policies.append(network_policy("allow-to-package-mirrors", ns, egress=[rule]))
    policies += [served(s) for s in services.values() if s.component == component]
    return policies


def karpenter_to_aws(spec: Spec) -> list[dict[str, Any]]:
    """Karpenter launches and ends instances through AWS's public APIs (EC2, SQS, SSM, pricing, EKS),
    signed with the credentials the Pod Identity agent hands its service account."""
    ns = COMPONENT_NAMESPACES["karpenter"][0]
    cidr, port = IDENTITY_ENDPOINTS["eks"]
    return [
        network_policy("allow-to-aws-apis", ns, egress=[{"to": [{"ipBlock": PUBLIC}], "ports": tcp(HTTPS_PORT)}]),
        network_policy(
            "allow-to-workload-identity", ns, egress=[{"to": [{"ipBlock": {"cidr": cidr}}], "ports": tcp(port)}]
        ),
    ]


def predictors() -> dict[str, Any]:
    from modules.k8s.kserve import PREDICTOR_LABEL  # imported here: kserve imports this module

    return {"matchExpressions": [{"key": PREDICTOR_LABEL, "operator": "Exists"}]}


def gateway_to_predictors(spec: Spec) -> list[dict[str, Any]]:
    """The Gateway's proxies reach predictor pods, only in namespaces labelled for the gateway."""
    from modules.k8s import kserve  # imported here: kserve imports this module

    if not kserve.gateway_enabled(spec):
        return []
    peer = {"namespaceSelector": matching({GATEWAY_ACCESS_LABEL: "true"}), "podSelector": predictors()}
    rule = {"to": [peer], "ports": tcp(kserve.PREDICTOR_PORT)}
    return [
        network_policy("allow-gateway-to-predictors", kserve.NAMESPACE, matching(kserve.PROXY_LABELS), egress=[rule])
    ]


def from_gateway(ns: str) -> dict[str, Any]:
    """A labelled team namespace admits the Gateway's proxies to its predictors."""
    from modules.k8s import kserve  # imported here: kserve imports this module

    rule = {
        "from": [in_namespace(kserve.NAMESPACE, matching(kserve.PROXY_LABELS))],
        "ports": tcp(kserve.PREDICTOR_PORT),
    }
    return network_policy("allow-from-gateway", ns, predictors(), ingress=[rule])


def team_gpu_ceiling(spec: Spec, team: Team) -> int:
    """The most GPU units a team can hold: nominal quota plus what it may borrow, per pool."""
    total = 0
    for quota in team.gpu_quotas:
        pool_capacity = spec.pool(quota.pool).max_gpu_slots
        borrow = quota.borrowing_limit if quota.borrowing_limit is not None else pool_capacity - quota.gpus
        total += min(pool_capacity, quota.gpus + borrow)
    return total


def team_policies(spec: Spec, team: Team, services: dict[str, PlatformService]) -> list[dict[str, Any]]:
    """The baseline, the platform services a team calls, and the Gateway's way in to its predictors."""
    from modules.k8s.kserve import gateway_enabled  # imported here: kserve imports this module

    ns = team.namespace_name
    policies = [*network_policies(ns), *calls(spec, ns, TEAM_CALLS, services)]
    return policies + ([from_gateway(ns)] if gateway_enabled(spec) else [])


def team_objects(spec: Spec, team: Team, services: dict[str, PlatformService] | None = None) -> list[dict[str, Any]]:
    from modules.k8s.kserve import gateway_enabled  # imported here: kserve imports this module

    ns = team.namespace_name
    services = platform_services(spec) if services is None else services
    quota = {"pods": "500", f"requests.{GPU_RESOURCE}": str(team_gpu_ceiling(spec, team))}
    limit_range = {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": {"cpu": "250m", "memory": "512Mi"},
                "default": {"cpu": "2", "memory": "4Gi"},
            }
        ]
    }
    rules = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
        {
            "apiGroups": ["jobset.x-k8s.io"],
            "resources": ["jobsets"],
            "verbs": ["create", "get", "list", "watch", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads", "localqueues"], "verbs": ["get", "list", "watch"]},
    ]
    runner = f"{team.name}-runner"
    subjects = [
        {"kind": "Group", "name": f"cnai:team:{team.name}", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": runner, "namespace": ns},
    ]
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "job-submitter"}
    return [
        namespace(ns, "restricted", client=True, gateway=gateway_enabled(spec)),
        *team_policies(spec, team, services),
        k8s_object("v1", "ResourceQuota", "team-quota", ns, spec={"hard": quota}),
        k8s_object("v1", "LimitRange", "team-defaults", ns, spec=limit_range),
        k8s_object("v1", "ServiceAccount", runner, ns, automountServiceAccountToken=False),
        k8s_object("rbac.authorization.k8s.io/v1", "Role", "job-submitter", ns, rules=rules),
        k8s_object(
            "rbac.authorization.k8s.io/v1", "RoleBinding", "job-submitter", ns, subjects=subjects, roleRef=role_ref
        ),
    ]


def security_objects(spec: Spec) -> list[dict[str, Any]]:
    """Namespaces and policies for every enabled component and every team."""
    objects: list[dict[str, Any]] = []
    services = platform_services(spec)
    for component, (ns, level) in COMPONENT_NAMESPACES.items():
        if component_enabled(spec, component):
            objects += [namespace(ns, level, client=component in CLIENT_COMPONENTS), *network_policies(ns)]
            objects += component_policies(spec, component, services)
    for team in spec.teams:
        objects += team_objects(spec, team, services)
    return objects


@dataclass(frozen=True)
class SecurityBaselineArgs:
    spec: Spec  # the environment; namespaces follow its enabled components and teams


class SecurityBaseline(pulumi.ComponentResource):
    """Namespaces, NetworkPolicies, team quotas and RBAC: created before any component."""

    def __init__(self, name: str, args: SecurityBaselineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:SecurityBaseline", name, None, opts)
        self.objects = object_group(f"{name}-objects", security_objects(args.spec), child_of(self, opts))
        self.register_outputs({"objects": self.objects})
