"""Workload identities: which in-cluster service account may touch which cloud bucket, and how.

The one contract between the cloud stack (IAM roles + EKS Pod Identity associations, or Google
service accounts + workload identity bindings) and the platform (the Kubernetes service accounts,
annotated on GKE). Both sides derive it from the spec, so a bucket or a team added to the spec reaches
IAM and Kubernetes together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from modules.spec import Spec, Team

MLFLOW_SERVICE_ACCOUNT = "mlflow"
MLFLOW_DB_CLUSTER = "mlflow-db"  # CloudNativePG names the cluster's service account after the cluster
MILVUS_SERVICE_ACCOUNT = "milvus"
GKE_SA_ANNOTATION = "iam.gke.io/gcp-service-account"
GSA_MAX = 30  # Google service account ids: 6-30 characters
IAM_ROLE_MAX = 64


def model_service_account_name(team: Team) -> str:
    return f"{team.name}-models"


@dataclass(frozen=True)
class Workload:
    """One Kubernetes service account and the buckets (logical names) it reads or writes."""

    name: str
    namespace: str
    service_account: str
    buckets: tuple[str, ...]
    writes: bool


def _namespace(component: str) -> str:
    # Imported here: the security baseline imports Pulumi, which the cloud extra alone does not need.
    from modules.k8s.security import COMPONENT_NAMESPACES

    return COMPONENT_NAMESPACES[component][0]


def workloads(spec: Spec) -> list[Workload]:
    """Workloads that need a cloud identity: only where the store is the cloud's (s3, gcs)."""
    c = spec.components
    if not c.object_storage.enabled or c.object_storage.provider not in ("s3", "gcs"):
        return []
    existing = set(c.object_storage.buckets)

    def kept(*buckets: str) -> tuple[str, ...]:
        return tuple(b for b in buckets if b in existing)

    found: list[Workload] = []
    if c.mlflow.enabled:
        ns = _namespace("mlflow")
        found.append(Workload("mlflow", ns, MLFLOW_SERVICE_ACCOUNT, kept("mlflow-artifacts"), writes=True))
        found.append(Workload("mlflow-db", ns, MLFLOW_DB_CLUSTER, kept("mlflow-artifacts"), writes=True))
    if c.vector_db.enabled:
        found.append(Workload("milvus", _namespace("vector_db"), MILVUS_SERVICE_ACCOUNT, kept("milvus"), writes=True))
    if c.kserve.enabled:
        for team in spec.teams:
            found.append(
                Workload(
                    f"models-{team.name}",
                    team.namespace_name,
                    model_service_account_name(team),
                    kept("models", "mlflow-artifacts"),
                    writes=False,
                )
            )
    return [w for w in found if w.buckets]


def cloud_name(spec: Spec, workload: Workload, limit: int) -> str:
    """An IAM role / Google service account id: readable, unique per environment, within the cloud's limit."""
    name = f"cnai-{spec.name}-{workload.name}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def gke_service_account_email(spec: Spec, workload: Workload) -> str:
    return f"{cloud_name(spec, workload, GSA_MAX)}@{spec.cluster.project}.iam.gserviceaccount.com"


def service_account_annotations(spec: Spec, workload_name: str) -> dict[str, str]:
    """GKE binds through an annotation; EKS Pod Identity associates by namespace + name (no annotation)."""
    if spec.cluster.target != "gke":
        return {}
    workload = next((w for w in workloads(spec) if w.name == workload_name), None)
    return {GKE_SA_ANNOTATION: gke_service_account_email(spec, workload)} if workload else {}
