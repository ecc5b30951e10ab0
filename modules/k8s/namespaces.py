"""The namespaces the platform owns and the ones Kubernetes reserves: one table, no Pulumi.

The security baseline creates the component namespaces from this table; the spec checks refuse a
team namespace that would collide with any of them.
"""

from __future__ import annotations

from modules.spec.karpenter import NAMESPACE as KARPENTER_NAMESPACE
from modules.spec.karpenter import uses_karpenter
from modules.spec.models import Spec

OBSERVABILITY_NAMESPACE = "cnai-observability"

# Component -> (namespace, Pod Security level). Privileged only where the workload needs the host:
# the GPU Operator loads drivers and device plugins; node-exporter reads host namespaces.
COMPONENT_NAMESPACES: dict[str, tuple[str, str]] = {
    "gpu_operator": ("gpu-operator", "privileged"),
    "kueue": ("kueue-system", "restricted"),
    "jobset": ("jobset-system", "restricted"),  # Kueue's JobSet integration (gangs of Jobs)
    "cert_manager": ("cert-manager", "restricted"),
    "kserve": ("kserve", "restricted"),
    "mlflow": ("cnai-mlflow", "restricted"),
    "observability": (OBSERVABILITY_NAMESPACE, "privileged"),
    "vector_db": ("cnai-milvus", "restricted"),
    "object_storage": ("cnai-storage", "restricted"),
    "karpenter": (KARPENTER_NAMESPACE, "restricted"),  # EKS GPU pools' autoscaler
}

# Namespaces of what a component installs beside itself (no spec component of their own).
INSTALLED_WITH = {"jobset": "kueue"}


def component_enabled(spec: Spec, component: str) -> bool:
    """Whether the spec turns this namespace's component on (Karpenter: the target and its GPU pools)."""
    if component == "karpenter":
        return uses_karpenter(spec)
    return bool(getattr(spec.components, INSTALLED_WITH.get(component, component)).enabled)


# Namespaces every Kubernetes cluster has; `kube-` is reserved for the system as a whole.
KUBE_SYSTEM = "kube-system"  # cluster DNS lives here (the security baseline allows egress to it)
SYSTEM_NAMESPACES = ("default", KUBE_SYSTEM, "kube-public", "kube-node-lease")
SYSTEM_PREFIX = "kube-"
# Namespaces a target's own tooling creates (kind's local-path provisioner).
TARGET_NAMESPACES: dict[str, tuple[str, ...]] = {"kind": ("local-path-storage",)}


def reserved_namespaces(target: str) -> dict[str, str]:
    """Namespace -> who owns it, for every namespace a team must not use on this target.

    Platform namespaces are reserved whether or not their component is enabled: enabling it later
    must not land it in a team's namespace.
    """
    owners = {ns: "Kubernetes" for ns in SYSTEM_NAMESPACES}
    owners |= {ns: f"the {target} cluster" for ns in TARGET_NAMESPACES.get(target, ())}
    owners |= {ns: f"the platform's {component}" for component, (ns, _) in COMPONENT_NAMESPACES.items()}
    return owners


def namespace_owner(namespace: str, target: str) -> str | None:
    """Who already owns this namespace on the target (None: free for a team)."""
    owner = reserved_namespaces(target).get(namespace)
    if owner is None and namespace.startswith(SYSTEM_PREFIX):
        owner = f"Kubernetes (the {SYSTEM_PREFIX} prefix is reserved)"
    return owner
