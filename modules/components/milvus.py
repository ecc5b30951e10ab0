"""Milvus: standalone (dev, kind) or cluster mode (prod), segments in the platform's object store."""

from __future__ import annotations

from typing import Any

from modules.components.identities import Workload, buckets_of, cloud_store, service_account_annotations
from modules.components.object_storage import COMPONENT as STORAGE
from modules.components.object_storage import VECTOR_BUCKET, VECTOR_DB_CREDENTIALS_SECRET, runs_in_cluster
from modules.components.objects import RUN_AS, non_root_container_security
from modules.components.registry import Component, Release, Service
from modules.spec import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES

NAMESPACE = PLATFORM_NAMESPACES["vector_db"]
SERVICE_ACCOUNT = "milvus"
PORT = 19530  # gRPC, the port clients (pymilvus) address


# Milvus's pods, each of which opens the object store (the chart gives each its own extraEnv).
MILVUS_COMPONENTS = (
    "standalone",
    "proxy",
    "rootCoordinator",
    "queryCoordinator",
    "queryNode",
    "indexCoordinator",
    "indexNode",
    "dataCoordinator",
    "dataNode",
    "mixCoordinator",
    "streamingNode",
)


def milvus_workloads(spec: Spec) -> list[Workload]:
    """Milvus writes its segments to a cloud store with its own identity."""
    if not (spec.components.vector_db.enabled and cloud_store(spec)):
        return []
    return [Workload("milvus", NAMESPACE, SERVICE_ACCOUNT, buckets_of(spec, VECTOR_BUCKET), writes=True)]


def external_s3(spec: Spec) -> dict[str, Any]:
    """Where Milvus keeps segments: the in-cluster SeaweedFS or the cloud's store (IAM). No keys here: the
    chart writes externalS3 into ConfigMap `milvus`; in-cluster keys come from a Secret (s3_key_env)."""
    base = {"enabled": True, "bucketName": spec.bucket(VECTOR_BUCKET), "rootPath": spec.name}
    if runs_in_cluster(spec):
        return base | {"host": STORAGE.host("object-store"), "port": STORAGE.port("object-store"), "useSSL": False}
    if spec.components.object_storage.provider == "s3":
        return base | {
            "host": "s3.amazonaws.com",
            "port": 443,
            "useSSL": True,
            "useIAM": True,
            "cloudProvider": "aws",
            "region": spec.cluster.region,
        }
    return base | {
        "host": "storage.googleapis.com",
        "port": 443,
        "useSSL": True,
        "useIAM": True,
        "cloudProvider": "gcp",
    }


RUNTIME_DEFAULT = {"type": "RuntimeDefault"}
ETCD_UID = 1001  # the Bitnami etcd image's user


def s3_key_env() -> list[dict[str, Any]]:
    """Milvus's S3 keys from its own Secret: Milvus (2.2 on) reads MINIO_ACCESS_KEY_ID and
    MINIO_SECRET_ACCESS_KEY over its config file, as the Milvus operator sets them."""
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": VECTOR_DB_CREDENTIALS_SECRET, "key": key}}}
        for env, key in (
            ("MINIO_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("MINIO_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        )
    ]


def milvus_values(spec: Spec) -> dict[str, Any]:
    clustered = spec.components.vector_db.mode == "cluster"
    keys = {component: {"extraEnv": s3_key_env()} for component in MILVUS_COMPONENTS} if runs_in_cluster(spec) else {}
    return keys | {
        "cluster": {"enabled": clustered},
        "standalone": keys.get("standalone", {}) | {"persistence": {"enabled": not clustered}},
        # The platform's object store replaces the bundled MinIO (MinIO CE is archived).
        "minio": {"enabled": False},
        "externalS3": external_s3(spec),
        "pulsarv3": {"enabled": False},
        "woodpecker": {"enabled": clustered},
        # Pod Security `restricted` (cnai labels the namespace so): seccomp and no capabilities, for
        # Milvus's pods and its bundled etcd's (Bitnami's chart passes extra keys through).
        "etcd": {
            "replicaCount": 3 if clustered else 1,
            "podSecurityContext": {"enabled": True, "fsGroup": ETCD_UID, "seccompProfile": RUNTIME_DEFAULT},
            "containerSecurityContext": {"enabled": True, "runAsUser": ETCD_UID} | non_root_container_security(),
        },
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": spec.components.observability.enabled}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": RUNTIME_DEFAULT,
        },
        "containerSecurityContext": non_root_container_security(),
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": service_account_annotations(spec, milvus_workloads(spec), "milvus"),
        },
    }


COMPONENT = Component(
    key="vector_db",
    name="milvus",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.vector_db.enabled,
    releases=(Release("milvus", "chart", milvus_values),),
    services=(Service("milvus", "milvus", (PORT,)),),
    after=("object_storage",),  # its component writes Milvus's key Secret
    calls=("object-store",),  # Milvus's segments
    platform_client=True,
    workloads=milvus_workloads,
    local_servers=("milvus",),
    pulumi_type="Milvus",
)
