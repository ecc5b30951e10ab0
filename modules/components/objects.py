"""Small constructors shared by every component's builders: metadata and labels."""

from __future__ import annotations

from typing import Any

MANAGED_BY = {"app.kubernetes.io/managed-by": "cnai"}


def metadata(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def k8s_object(api_version: str, kind: str, name: str, namespace: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata(name, namespace), **fields}


# Security contexts every cnai-authored workload shares. A high UID avoids overlap with host users
# (checkov CKV_K8S_40).
RUN_AS = 10001


def non_root_container_security() -> dict[str, Any]:
    """For images that pick their own user: non-root, no privilege escalation, no capabilities."""
    return {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def hardened_container_security() -> dict[str, Any]:
    """Non-root, high UID, no privilege escalation, read-only root file system, no capabilities."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def hardened_pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}}


def annotate(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    """Adds annotations to a built object (none: the object is left as it was)."""
    if annotations:
        obj["metadata"].setdefault("annotations", {}).update(annotations)
    return obj
