"""S3 buckets (modules/cloud/eks/buckets.py), synthesized for dev."""

from __future__ import annotations

import json

from tests.cloud.conftest import resources


def test_every_bucket_is_private_versioned_kms_encrypted_tls_only_and_expires_old_versions(stacks):
    stack = stacks["dev"]
    names = {b["bucket"] for b in resources(stack, "aws_s3_bucket").values()}
    assert names == {f"acme-cnai-dev-{b}" for b in ("mlflow-artifacts", "models", "datasets", "milvus")}
    blocks = resources(stack, "aws_s3_bucket_public_access_block").values()
    assert len(blocks) == 4 and all(
        b[k] for b in blocks for k in ("block_public_acls", "block_public_policy", "ignore_public_acls")
    )
    for encryption in resources(stack, "aws_s3_bucket_server_side_encryption_configuration").values():
        assert encryption["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    assert all(
        v["versioning_configuration"]["status"] == "Enabled"
        for v in resources(stack, "aws_s3_bucket_versioning").values()
    )
    for policy in resources(stack, "aws_s3_bucket_policy").values():
        [deny] = json.loads(policy["policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(resources(stack, "aws_s3_bucket_lifecycle_configuration")) == 4
