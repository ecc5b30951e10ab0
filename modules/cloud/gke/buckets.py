"""Private GCS buckets: uniform access, public access prevented, versioned, CMEK-encrypted, old versions
and stale uploads expired (names and retention: modules/cloud/buckets.py, shared with EKS)."""

from __future__ import annotations

from typing import Any

from cdktn import TerraformStack
from cdktn_provider_google import kms_crypto_key, storage_bucket

from modules.cloud.buckets import INCOMPLETE_UPLOAD_DAYS, NONCURRENT_VERSION_DAYS, bucket_names
from modules.cloud.stack import declare
from modules.spec import Spec


def bucket_settings(spec: Spec, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "location": (spec.cluster.region or "").upper(),
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "versioning": {"enabled": True},
        "force_destroy": False,
        "labels": {"cnai-environment": spec.name},
        "lifecycle_rule": [
            {
                "action": {"type": "Delete"},
                "condition": {"days_since_noncurrent_time": NONCURRENT_VERSION_DAYS, "with_state": "ARCHIVED"},
            },
            {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": INCOMPLETE_UPLOAD_DAYS}},
        ],
    }


def declare_buckets(
    stack: TerraformStack, spec: Spec, key: kms_crypto_key.KmsCryptoKey
) -> dict[str, storage_bucket.StorageBucket]:
    """Logical bucket -> its GCS bucket."""
    encryption = {"default_kms_key_name": key.id}
    return {
        logical: declare(
            storage_bucket.StorageBucket,
            stack,
            f"bucket-{logical}",
            encryption=encryption,
            **bucket_settings(spec, name),
        )
        for logical, name in bucket_names(spec).items()
    }
