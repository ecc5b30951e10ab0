"""GCS buckets (modules/cloud/gke/buckets.py), synthesized for prod."""

from __future__ import annotations

from tests.cloud.conftest import resources


def test_buckets_are_uniform_private_versioned_and_cmek_encrypted(stacks):
    buckets = resources(stacks["prod"], "google_storage_bucket").values()
    assert {b["name"] for b in buckets} == {
        f"acme-cnai-prod-{b}" for b in ("mlflow-artifacts", "models", "datasets", "milvus")
    }
    for bucket in buckets:
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["versioning"] == {"enabled": True}
        assert bucket["encryption"]["default_kms_key_name"] == "${google_kms_crypto_key.key.id}"
