"""Workload identities: which in-cluster service account may touch which cloud bucket, and how.

The one contract between the cloud stack (IAM roles + EKS Pod Identity associations, or Google
service accounts + workload identity bindings) and the platform (the Kubernetes service accounts,
annotated on GKE). Each component declares its workloads (modules/components/<key>.py, `workloads`);
modules/components/catalog.py gathers them, so a bucket or a team added to the spec reaches IAM and
Kubernetes together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from modules.spec import Spec

GKE_SA_ANNOTATION = "iam.gke.io/gcp-service-account"
GSA_MAX = 30  # Google service account ids: 6-30 characters
IAM_ROLE_MAX = 64
CLOUD_STORES = ("s3", "gcs")


@dataclass(frozen=True)
class Workload:
    """One Kubernetes service account and the buckets (logical names) it reads or writes."""

    name: str
    namespace: str
    service_account: str
    buckets: tuple[str, ...]
    writes: bool


def cloud_store(spec: Spec) -> bool:
    """Workloads need a cloud identity only where the store is the cloud's (s3, gcs)."""
    storage = spec.components.object_storage
    return storage.enabled and storage.provider in CLOUD_STORES


def buckets_of(spec: Spec, *buckets: str) -> tuple[str, ...]:
    """The buckets among these that this environment has (a workload without any needs no identity)."""
    existing = set(spec.components.object_storage.buckets)
    return tuple(b for b in buckets if b in existing)


def cloud_name(spec: Spec, workload: Workload, limit: int) -> str:
    """An IAM role / Google service account id: readable, unique per environment, within the cloud's limit."""
    name = f"cnai-{spec.name}-{workload.name}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def gke_service_account_email(spec: Spec, workload: Workload) -> str:
    return f"{cloud_name(spec, workload, GSA_MAX)}@{spec.cluster.project}.iam.gserviceaccount.com"


def service_account_annotations(spec: Spec, workloads: list[Workload], name: str) -> dict[str, str]:
    """GKE binds through an annotation; EKS Pod Identity associates by namespace + name (no annotation).
    `workloads` are the component's own; `name` picks one."""
    if spec.cluster.target != "gke":
        return {}
    workload = next((w for w in workloads if w.name == name and w.buckets), None)
    return {GKE_SA_ANNOTATION: gke_service_account_email(spec, workload)} if workload else {}
