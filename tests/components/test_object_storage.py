"""In-cluster object storage: SeaweedFS values and credential secrets."""

from __future__ import annotations

from modules.components.object_storage import (
    S3Identity,
    credential_secrets,
    runs_in_cluster,
    s3_identities,
    seaweedfs_values,
    tenant_actions,
)
from tests.specs import stand_in_spec


def test_only_seaweedfs_runs_in_cluster():
    assert runs_in_cluster(stand_in_spec("kind"))
    assert not runs_in_cluster(stand_in_spec("dev"))  # S3 buckets from the cloud stack
    assert not runs_in_cluster(stand_in_spec("prod"))  # GCS


def test_gateway_requires_auth_and_creates_the_spec_buckets():
    values = seaweedfs_values(stand_in_spec("kind"))
    s3 = values["filer"]["s3"]
    assert s3["enableAuth"] is True and s3["existingConfigSecret"] == "cnai-s3-identities"
    assert [b["name"] for b in s3["createBuckets"]] == ["mlflow-artifacts", "models", "datasets", "milvus"]
    assert not any(b["anonymousRead"] for b in s3["createBuckets"])


def test_credentials_are_placed_not_invented():
    secrets = credential_secrets("AK", "SK", "{}")
    clients = next(s for s in secrets if s["metadata"]["name"] == "cnai-s3-credentials")
    assert clients["stringData"] == {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}
    document = s3_identities([S3Identity("x", "AK", "SK", ["Read:models"])])
    assert document["identities"][0]["credentials"] == [{"accessKey": "AK", "secretKey": "SK"}]


def test_tenants_reach_only_the_shared_data_buckets():
    actions = tenant_actions(stand_in_spec("kind"))
    assert actions == [f"{a}:{b}" for b in ("models", "datasets") for a in ("Read", "Write", "List")]
    assert not any(a.startswith("Admin") or "mlflow-artifacts" in a for a in actions)
