"""Milvus: standalone (dev, kind) or cluster mode (prod), segments in the platform's object store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from modules.cloud.identities import MILVUS_SERVICE_ACCOUNT, service_account_annotations
from modules.k8s.object_storage import NAMESPACE as STORAGE_NAMESPACE
from modules.k8s.object_storage import VECTOR_BUCKET, runs_in_cluster
from modules.k8s.objects import RUN_AS, non_root_container_security
from modules.k8s.pulumi_resources import helm_release
from modules.k8s.security import COMPONENT_NAMESPACES
from modules.spec import Spec

NAMESPACE = COMPONENT_NAMESPACES["vector_db"][0]


def external_s3(spec: Spec, access_key: Any = None, secret_key: Any = None) -> dict[str, Any]:
    """Where Milvus keeps segments: the in-cluster SeaweedFS (keys given) or the cloud's store (IAM)."""
    base = {"enabled": True, "bucketName": spec.bucket(VECTOR_BUCKET), "rootPath": spec.name}
    if runs_in_cluster(spec):
        return base | {
            "host": f"seaweedfs-s3.{STORAGE_NAMESPACE}.svc",
            "port": 8333,
            "useSSL": False,
            "accessKey": access_key,
            "secretKey": secret_key,
        }
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


def milvus_values(spec: Spec, access_key: Any = None, secret_key: Any = None) -> dict[str, Any]:
    clustered = spec.components.vector_db.mode == "cluster"
    return {
        "cluster": {"enabled": clustered},
        "standalone": {"persistence": {"enabled": not clustered}},
        # The platform's object store replaces the bundled MinIO (MinIO CE is archived).
        "minio": {"enabled": False},
        "externalS3": external_s3(spec, access_key, secret_key),
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
    access_key: pulumi.Input[str] | None  # in-cluster store only: the platform's S3 keys (secret)
    secret_key: pulumi.Input[str] | None


class Milvus(pulumi.ComponentResource):
    """The Milvus chart, its segments in the platform's object store."""

    def __init__(self, name: str, args: MilvusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:Milvus", name, None, opts)
        values = milvus_values(args.spec, args.access_key, args.secret_key)
        release = helm_release(f"{name}-chart", "milvus", NAMESPACE, values, pulumi.ResourceOptions(parent=self))
        self.uri = f"http://milvus.{NAMESPACE}.svc:19530"
        self.register_outputs({"uri": self.uri, "release": release.status})
