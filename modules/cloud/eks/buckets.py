"""Private S3 buckets: public access blocked, owner-enforced, versioned, KMS-encrypted, TLS-only, old
versions and stale uploads expired (names and retention: modules/cloud/buckets.py, shared with GKE)."""

from __future__ import annotations

from typing import Any

from cdktn import TerraformStack
from cdktn_provider_aws import (
    kms_key,
    s3_bucket,
    s3_bucket_lifecycle_configuration,
    s3_bucket_ownership_controls,
    s3_bucket_policy,
    s3_bucket_public_access_block,
    s3_bucket_server_side_encryption_configuration,
    s3_bucket_versioning,
)

from modules.cloud.buckets import INCOMPLETE_UPLOAD_DAYS, NONCURRENT_VERSION_DAYS, bucket_names
from modules.cloud.eks.policies import deny_insecure_transport, policy_document
from modules.cloud.stack import declare
from modules.spec import Spec

PUBLIC_ACCESS_BLOCKED = {
    "block_public_acls": True,
    "block_public_policy": True,
    "ignore_public_acls": True,
    "restrict_public_buckets": True,
}


def tls_only_bucket_policy(bucket_arn: str) -> str:
    return policy_document([deny_insecure_transport("s3", [bucket_arn, f"{bucket_arn}/*"])])


def lifecycle_rules() -> list[dict[str, Any]]:
    return [
        {
            "id": "expire-old-versions-and-uploads",
            "status": "Enabled",
            "filter": [{"prefix": ""}],
            "noncurrent_version_expiration": [{"noncurrent_days": NONCURRENT_VERSION_DAYS}],
            "abort_incomplete_multipart_upload": [{"days_after_initiation": INCOMPLETE_UPLOAD_DAYS}],
        }
    ]


def bucket_settings(bucket_arn: str, key_arn: str) -> dict[str, tuple[type[Any], dict[str, Any]]]:
    """The resources that configure one bucket: construct id suffix -> (resource kind, its attributes)."""
    sse = {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key_arn}}
    return {
        "no-public": (s3_bucket_public_access_block.S3BucketPublicAccessBlock, PUBLIC_ACCESS_BLOCKED),
        "owner": (
            s3_bucket_ownership_controls.S3BucketOwnershipControls,
            {"rule": {"object_ownership": "BucketOwnerEnforced"}},
        ),
        "versioning": (s3_bucket_versioning.S3BucketVersioningA, {"versioning_configuration": {"status": "Enabled"}}),
        "encryption": (
            s3_bucket_server_side_encryption_configuration.S3BucketServerSideEncryptionConfigurationA,
            {"rule": [sse | {"bucket_key_enabled": True}]},
        ),
        "lifecycle": (s3_bucket_lifecycle_configuration.S3BucketLifecycleConfiguration, {"rule": lifecycle_rules()}),
        "tls-only": (s3_bucket_policy.S3BucketPolicy, {"policy": tls_only_bucket_policy(bucket_arn)}),
    }


def declare_buckets(stack: TerraformStack, spec: Spec, key: kms_key.KmsKey) -> dict[str, s3_bucket.S3Bucket]:
    """Logical bucket -> its S3 bucket."""
    return {logical: _bucket(stack, logical, name, key) for logical, name in bucket_names(spec).items()}


def _bucket(stack: TerraformStack, logical: str, name: str, key: kms_key.KmsKey) -> s3_bucket.S3Bucket:
    bucket = declare(s3_bucket.S3Bucket, stack, f"bucket-{logical}", bucket=name, force_destroy=False)
    for suffix, (kind, attributes) in bucket_settings(bucket.arn, key.arn).items():
        declare(kind, stack, f"bucket-{logical}-{suffix}", bucket=bucket.id, **attributes)
    return bucket
