"""Security baseline: namespaces with Pod Security labels, NetworkPolicies, team quotas and RBAC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from modules.k8s.namespaces import COMPONENT_NAMESPACES, OBSERVABILITY_NAMESPACE
from modules.k8s.objects import k8s_object, metadata
from modules.k8s.pulumi_resources import object_group
from modules.spec import Spec, Team
from modules.spec.models import GPU_RESOURCE

# Services the platform's clients (teams, serving, the registry) call across namespaces.
SERVED_COMPONENTS = ("mlflow", "object_storage", "vector_db", "kserve")
CLIENT_LABEL = "cnai.io/platform-client"
CLIENT_COMPONENTS = ("kserve", "mlflow", "vector_db", "observability")


def namespace(name: str, level: str, client: bool = False) -> dict[str, Any]:
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}
    if client:
        labels[CLIENT_LABEL] = "true"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name, labels=labels)}


def allow_platform_clients(ns: str) -> dict[str, Any]:
    """A served component accepts traffic from namespaces labelled as platform clients."""
    clients = {"from": [{"namespaceSelector": {"matchLabels": {CLIENT_LABEL: "true"}}}]}
    return k8s_object(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "allow-platform-clients",
        ns,
        spec={"podSelector": {}, "ingress": [clients]},
    )


def network_policies(ns: str) -> list[dict[str, Any]]:
    """Deny all ingress, then allow: the same namespace, and Prometheus scraping from observability."""
    api = "networking.k8s.io/v1"
    same_namespace = {"from": [{"podSelector": {}}]}
    scrape = {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": OBSERVABILITY_NAMESPACE}}}]
    }
    return [
        k8s_object(
            api, "NetworkPolicy", "default-deny-ingress", ns, spec={"podSelector": {}, "policyTypes": ["Ingress"]}
        ),
        k8s_object(
            api, "NetworkPolicy", "allow-same-namespace", ns, spec={"podSelector": {}, "ingress": [same_namespace]}
        ),
        k8s_object(api, "NetworkPolicy", "allow-prometheus-scrape", ns, spec={"podSelector": {}, "ingress": [scrape]}),
    ]


def team_gpu_ceiling(spec: Spec, team: Team) -> int:
    """The most GPU units a team can hold: nominal quota plus what it may borrow, per pool."""
    total = 0
    for quota in team.gpu_quotas:
        pool_capacity = spec.pool(quota.pool).max_gpu_slots
        borrow = quota.borrowing_limit if quota.borrowing_limit is not None else pool_capacity - quota.gpus
        total += min(pool_capacity, quota.gpus + borrow)
    return total


def team_objects(spec: Spec, team: Team) -> list[dict[str, Any]]:
    ns = team.namespace_name
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
        namespace(ns, "restricted", client=True),
        *network_policies(ns),
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
    for component, (ns, level) in COMPONENT_NAMESPACES.items():
        if getattr(spec.components, component).enabled:
            objects += [namespace(ns, level, client=component in CLIENT_COMPONENTS), *network_policies(ns)]
            if component in SERVED_COMPONENTS:
                objects.append(allow_platform_clients(ns))
    for team in spec.teams:
        objects += team_objects(spec, team)
    return objects


@dataclass(frozen=True)
class SecurityBaselineArgs:
    spec: Spec  # the environment; namespaces follow its enabled components and teams


class SecurityBaseline(pulumi.ComponentResource):
    """Namespaces, NetworkPolicies, team quotas and RBAC: created before any component."""

    def __init__(self, name: str, args: SecurityBaselineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:SecurityBaseline", name, None, opts)
        self.objects = object_group(f"{name}-objects", security_objects(args.spec), pulumi.ResourceOptions(parent=self))
        self.register_outputs({"objects": self.objects})
