"""Object storage in the cluster: SeaweedFS with its S3 gateway, buckets and credentials.

On eks/gke with provider s3/gcs the buckets come from the cloud stack and nothing runs in-cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modules.components.objects import k8s_object, non_root_container_security
from modules.components.registry import Component, Release, Service
from modules.spec import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES

NAMESPACE = PLATFORM_NAMESPACES["object_storage"]
S3_SERVICE = "seaweedfs-s3"  # the chart names its S3 gateway's Service after the release
S3_PORT = 8333
IDENTITIES_SECRET = "cnai-s3-identities"
IDENTITIES_KEY = "seaweedfs_s3_config"  # the key of existingConfigSecret the SeaweedFS chart mounts
CREDENTIALS_SECRET = "cnai-s3-credentials"
TEAM_CREDENTIALS_SECRET = "s3-credentials"  # a team's own keys, in its namespace
VECTOR_DB_CREDENTIALS_SECRET = "milvus-s3"  # Milvus's own keys, in its namespace


def runs_in_cluster(spec: Spec) -> bool:
    storage = spec.components.object_storage
    return storage.enabled and storage.provider == "seaweedfs"


# Pod Security `restricted` (cnai labels the namespace so): the chart's pods run as root with hostPath
# volumes by default; cnai gives them a non-root user, seccomp, no capabilities and volume claims.
SEAWEEDFS_UID = 1000
DATA_SIZE_GIB = {"master": 1, "filer": 10, "volume": 100}


def _restricted() -> dict[str, Any]:
    """A component's security contexts (the bucket hook Job runs with the filer's)."""
    return {
        "podSecurityContext": {
            "enabled": True,
            "runAsNonRoot": True,
            "runAsUser": SEAWEEDFS_UID,
            "runAsGroup": SEAWEEDFS_UID,
            "fsGroup": SEAWEEDFS_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {"enabled": True} | non_root_container_security(),
    }


def _claim(component: str) -> dict[str, Any]:
    return {"type": "persistentVolumeClaim", "size": f"{DATA_SIZE_GIB[component]}Gi", "storageClass": ""}


def seaweedfs_values(spec: Spec) -> dict[str, Any]:
    """Chart values: HA masters where protected, S3 gateway with auth from a secret, buckets, metrics,
    and pods that meet Pod Security `restricted` on volume claims."""
    replicas = 3 if spec.cluster.protect else 1
    logs = {"type": "emptyDir"}
    return {
        "global": {"seaweedfs": {"monitoring": {"enabled": spec.components.observability.enabled}}},
        "master": {
            "replicas": replicas,
            "defaultReplication": "001" if replicas > 1 else "000",
            "data": _claim("master"),
            "logs": logs,
            **_restricted(),
        },
        "volume": {
            "replicas": max(2, replicas) if spec.cluster.protect else 1,
            "dataDirs": [{"name": "data1", "maxVolumes": 0} | _claim("volume")],
            **_restricted(),
        },
        "filer": {
            "replicas": replicas,
            "data": _claim("filer"),
            "logs": logs,
            **_restricted(),
            "s3": {
                "enabled": True,
                "enableAuth": True,
                "existingConfigSecret": IDENTITIES_SECRET,
                "createBuckets": [{"name": b, "anonymousRead": False} for b in spec.components.object_storage.buckets],
            },
        },
    }


ADMIN_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]
TENANT_BUCKETS = ("datasets", "models")
VECTOR_BUCKET = "milvus"  # Milvus's segments (a spec check requires it while the vector DB is on)


@dataclass(frozen=True)
class S3Identity:
    """One S3 identity; keys may be Pulumi outputs (nothing is resolved here)."""

    name: str
    access_key: Any
    secret_key: Any
    actions: list[str]


def bucket_actions(bucket: str) -> list[str]:
    """Read, write and list one bucket, nothing else (SeaweedFS's action:bucket grants)."""
    return [f"{action}:{bucket}" for action in ("Read", "Write", "List")]


def tenant_actions(spec: Spec) -> list[str]:
    """A team may read, write and list only the shared data buckets the spec declares."""
    return [
        a
        for bucket in spec.components.object_storage.buckets
        if bucket in TENANT_BUCKETS
        for a in bucket_actions(bucket)
    ]


def s3_identities(identities: list[S3Identity]) -> dict[str, Any]:
    """SeaweedFS's identity document."""
    return {
        "identities": [
            {
                "name": i.name,
                "credentials": [{"accessKey": i.access_key, "secretKey": i.secret_key}],
                "actions": i.actions,
            }
            for i in identities
        ]
    }


def s3_credentials_secret(
    namespace: str, identity: S3Identity, credentials_file: Any, name: str = TEAM_CREDENTIALS_SECRET
) -> dict[str, Any]:
    """An identity's keys for one namespace's clients: env-style keys and an AWS credentials file
    (mounted as a file by servers, so no secret sits in an environment variable)."""
    keys = {"AWS_ACCESS_KEY_ID": identity.access_key, "AWS_SECRET_ACCESS_KEY": identity.secret_key}
    return k8s_object(
        "v1", "Secret", name, namespace, type="Opaque", stringData=keys | {"credentials": credentials_file}
    )


def credential_secrets(access_key: Any, secret_key: Any, identities_json: Any) -> list[dict[str, Any]]:
    """The gateway's identity file, and the same keys for platform clients (MLflow, KServe, Milvus)."""
    return [
        k8s_object(
            "v1", "Secret", IDENTITIES_SECRET, NAMESPACE, type="Opaque", stringData={IDENTITIES_KEY: identities_json}
        ),
        k8s_object(
            "v1",
            "Secret",
            CREDENTIALS_SECRET,
            NAMESPACE,
            type="Opaque",
            stringData={"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key},
        ),
    ]


COMPONENT = Component(
    key="object_storage",
    name="object-storage",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.object_storage.enabled,
    # In the cluster only with SeaweedFS; S3 and GCS buckets come from the cloud stack.
    releases=(Release("seaweedfs", "chart", seaweedfs_values, enabled=runs_in_cluster),),
    services=(Service("object-store", S3_SERVICE, (S3_PORT,), enabled=runs_in_cluster),),
    local_servers=("seaweedfs",),
    pulumi_type="ObjectStorage",
)
