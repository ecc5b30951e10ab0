"""The namespaces the platform owns and the ones Kubernetes reserves: the one fact about components the
spec must know (a team's namespace must not be any of them). The components declare everything else
about their namespaces (modules/components/<key>.py); each takes its name from this table.
"""

from __future__ import annotations

# Component (its key in the registry, modules/components/catalog.py) -> its namespace. Reserved whether
# or not the component is enabled: enabling it later must not land it in a team's namespace.
PLATFORM_NAMESPACES: dict[str, str] = {
    "gpu_operator": "gpu-operator",
    "kueue": "kueue-system",
    "jobset": "jobset-system",
    "cert_manager": "cert-manager",
    "kserve": "kserve",
    "mlflow": "cnai-mlflow",
    "observability": "cnai-observability",
    "vector_db": "cnai-milvus",
    "object_storage": "cnai-storage",
    "karpenter": "karpenter",
    "keda": "keda",
}

# Namespaces every Kubernetes cluster has; `kube-` is reserved for the system as a whole.
KUBE_SYSTEM = "kube-system"  # cluster DNS lives here (the security baseline allows egress to it)
SYSTEM_NAMESPACES = ("default", KUBE_SYSTEM, "kube-public", "kube-node-lease")
SYSTEM_PREFIX = "kube-"
# Namespaces a target's own tooling creates (kind's local-path provisioner).
TARGET_NAMESPACES: dict[str, tuple[str, ...]] = {"kind": ("local-path-storage",)}


def reserved_namespaces(target: str) -> dict[str, str]:
    """Namespace -> who owns it, for every namespace a team must not use on this target."""
    owners = {ns: "Kubernetes" for ns in SYSTEM_NAMESPACES}
    owners |= {ns: f"the {target} cluster" for ns in TARGET_NAMESPACES.get(target, ())}
    owners |= {ns: f"the platform's {component}" for component, ns in PLATFORM_NAMESPACES.items()}
    return owners


def namespace_owner(namespace: str, target: str) -> str | None:
    """Who already owns this namespace on the target (None: free for a team)."""
    owner = reserved_namespaces(target).get(namespace)
    if owner is None and namespace.startswith(SYSTEM_PREFIX):
        owner = f"Kubernetes (the {SYSTEM_PREFIX} prefix is reserved)"
    return owner
