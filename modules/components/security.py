"""Security baseline: namespaces with Pod Security labels, NetworkPolicies, team quotas and RBAC.

Every namespace cnai creates denies all ingress and all egress (`default-deny-ingress`,
`default-deny-egress`). Each allow is its own NetworkPolicy, named for the traffic it lets through:
`allow-to-<peer>` (egress), `allow-from-<peer>` and `allow-clients-<service>` (ingress), plus
`allow-same-namespace` and `allow-prometheus-scrape`. What each platform namespace needs comes from its
component's declaration (modules/components/<key>.py): the services it serves and calls, whether it
calls the API server or is called back by it, and its own policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modules.components import kserve
from modules.components.catalog import COMPONENTS, workloads
from modules.components.kueue import quota_ceiling
from modules.components.objects import k8s_object, metadata
from modules.components.observability import NAMESPACE as OBSERVABILITY_NAMESPACE
from modules.components.policies import (
    CLIENT_LABEL,
    GATEWAY_ACCESS_LABEL,
    HTTPS_PORT,
    IDENTITY_ENDPOINTS,
    NETWORK_API,
    PUBLIC,
    egress_to_workload_identity,
    in_namespace,
    matching,
    network_policy,
    tcp,
)
from modules.components.registry import Component
from modules.spec import Spec, Team
from modules.spec.models import GPU_RESOURCE
from modules.spec.namespaces import KUBE_SYSTEM

# Cluster DNS: the kube-dns Service's pods (CoreDNS on kind, kubeadm and EKS; kube-dns on GKE).
DNS_PODS = {"k8s-app": "kube-dns"}
DNS_PORT = 53
# The API server is no pod and its address differs per target (kind: the control-plane node, 6443;
# EKS: ENIs in the VPC, 443; GKE: the control plane's private endpoint, 443). A NetworkPolicy sees the
# endpoint behind the `kubernetes` Service, so no selector names it, and the spec holds no address for
# it: the allow is by port alone, and only for the namespaces of components that declare `api_client`.
API_SERVER_PORTS = (443, 6443)
# Teams: data and models (KServe's storage initializer runs in their namespace), runs and models in
# MLflow, vectors, traces and metrics (OTLP), metric queries (the smoke suite), models other teams serve.
TEAM_CALLS = ("object-store", "mlflow", "milvus", "otlp", "prometheus", "gateway")


@dataclass(frozen=True)
class PlatformService:
    """A service other namespaces call: allowed out of its callers and into its own namespace."""

    name: str  # names both policies: allow-to-<name> in callers, allow-clients-<name> beside it
    namespace: str | None  # None: outside the cluster (the cloud's object store)
    pods: dict[str, str]  # the pods that serve it ({}: any pod of its namespace)
    ports: tuple[int, ...]  # the ports its pods listen on (what a policy sees behind the Service)
    from_anywhere: bool = False  # admits any source, not only labelled platform clients


def platform_services(spec: Spec) -> dict[str, PlatformService]:
    """The services of this environment, by role, as their components declare them."""
    found = [
        PlatformService(s.role, c.namespace, dict(s.pods), s.ports, s.from_anywhere)
        for c in COMPONENTS
        if c.enabled(spec)
        for s in c.services
        if s.enabled(spec)
    ]
    storage = spec.components.object_storage
    if storage.enabled and not any(s.name == "object-store" for s in found):
        # The cloud's store (S3, GCS): its APIs answer on HTTPS at public addresses.
        found.insert(0, PlatformService("object-store", None, {}, (HTTPS_PORT,)))
    return {s.name: s for s in found}


def namespace(name: str, level: str, client: bool = False, gateway: bool = False) -> dict[str, Any]:
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}
    if client:
        labels[CLIENT_LABEL] = "true"
    if gateway:
        labels[GATEWAY_ACCESS_LABEL] = "true"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name, labels=labels)}


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
    if spec.cluster.target in IDENTITY_ENDPOINTS and ns in {w.namespace for w in workloads(spec)}:
        policies.append(egress_to_workload_identity(ns, spec.cluster.target))
    return policies


def served(service: PlatformService) -> dict[str, Any]:
    """Ingress to a service's pods on its ports: from labelled platform clients, or from anywhere."""
    assert service.namespace is not None
    rule: dict[str, Any] = {"ports": tcp(*service.ports)}
    if not service.from_anywhere:
        rule["from"] = [{"namespaceSelector": matching({CLIENT_LABEL: "true"})}]
    return network_policy(f"allow-clients-{service.name}", service.namespace, matching(service.pods), ingress=[rule])


def component_policies(spec: Spec, component: Component, services: dict[str, PlatformService]) -> list[dict[str, Any]]:
    """What one platform namespace needs beyond the baseline, from its component's declaration."""
    ns = component.namespace
    policies = calls(spec, ns, component.calls, services)
    if component.api_client:
        policies.append(network_policy("allow-to-api-server", ns, egress=[{"ports": tcp(*API_SERVER_PORTS)}]))
    if component.api_callbacks:
        # From anywhere on these ports only: the API server is no pod (see API_SERVER_PORTS).
        ingress = [{"ports": tcp(*component.api_callbacks)}]
        policies.append(network_policy("allow-from-api-server", ns, ingress=ingress))
    if component.policies:
        policies += component.policies(spec)
    own = {s.role for s in component.services}
    policies += [served(s) for s in services.values() if s.namespace == ns and s.name in own]
    return policies


def team_gpu_ceiling(spec: Spec, team: Team) -> int:
    """The most GPU units a team can hold: nominal quota plus what it may borrow, per pool."""
    return sum(quota_ceiling(spec, quota) for quota in team.gpu_quotas)


def team_policies(spec: Spec, team: Team, services: dict[str, PlatformService]) -> list[dict[str, Any]]:
    """The baseline, the platform services a team calls, and the Gateway's way in to its predictors."""
    ns = team.namespace_name
    policies = [*network_policies(ns), *calls(spec, ns, TEAM_CALLS, services)]
    return policies + ([kserve.from_gateway(ns)] if kserve.gateway_enabled(spec) else [])


def team_objects(spec: Spec, team: Team, services: dict[str, PlatformService] | None = None) -> list[dict[str, Any]]:
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
        namespace(ns, "restricted", client=True, gateway=kserve.gateway_enabled(spec)),
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
    for component in COMPONENTS:
        if component.enabled(spec):
            ns = component.namespace
            objects += [namespace(ns, component.pod_security, client=component.platform_client)]
            objects += [*network_policies(ns), *component_policies(spec, component, services)]
    for team in spec.teams:
        objects += team_objects(spec, team, services)
    return objects
