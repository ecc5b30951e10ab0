"""Milvus: standalone (dev, kind) or cluster mode (prod), segments in the platform's object store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from modules.cloud.identities import MILVUS_SERVICE_ACCOUNT, service_account_annotations
from modules.k8s.object_storage import NAMESPACE as STORAGE_NAMESPACE
from modules.k8s.object_storage import VECTOR_BUCKET, VECTOR_DB_CREDENTIALS_SECRET, runs_in_cluster
from modules.k8s.objects import RUN_AS, non_root_container_security
from modules.k8s.pulumi_resources import child_of, helm_release
from modules.k8s.security import COMPONENT_NAMESPACES
from modules.spec import Spec

NAMESPACE = COMPONENT_NAMESPACES["vector_db"][0]


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


def external_s3(spec: Spec) -> dict[str, Any]:
    """Where Milvus keeps segments: the in-cluster SeaweedFS or the cloud's store (IAM). No keys here: the
    chart writes externalS3 into ConfigMap `milvus`; in-cluster keys come from a Secret (s3_key_env)."""
    base = {"enabled": True, "bucketName": spec.bucket(VECTOR_BUCKET), "rootPath": spec.name}
    if runs_in_cluster(spec):
        return base | {"host": f"seaweedfs-s3.{STORAGE_NAMESPACE}.svc", "port": 8333, "useSSL": False}
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
            "name": MILVUS_SERVICE_ACCOUNT,
            "annotations": service_account_annotations(spec, "milvus"),
        },
    }


@dataclass(frozen=True)
class MilvusArgs:
    spec: Spec  # the environment; mode and storage come from components.vector_db / object_storage


class Milvus(pulumi.ComponentResource):
    """The Milvus chart, its segments in the platform's object store."""

    def __init__(self, name: str, args: MilvusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:Milvus", name, None, opts)
        values = milvus_values(args.spec)
        release = helm_release(f"{name}-chart", "milvus", NAMESPACE, values, child_of(self, opts))
        self.uri = f"http://milvus.{NAMESPACE}.svc:19530"
        self.register_outputs({"uri": self.uri, "release": release.status})
