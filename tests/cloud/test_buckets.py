"""Both clouds name and expire buckets alike (modules/cloud/buckets.py)."""

from __future__ import annotations

from modules.cloud.buckets import INCOMPLETE_UPLOAD_DAYS, NONCURRENT_VERSION_DAYS, bucket_names
from tests.cloud.conftest import resources
from tests.specs import stand_in_spec


def test_each_cloud_creates_the_spec_buckets_under_the_shared_names(stacks):
    s3 = {name.removeprefix("bucket-"): b["bucket"] for name, b in resources(stacks["dev"], "aws_s3_bucket").items()}
    gcs = resources(stacks["prod"], "google_storage_bucket")
    assert s3 == bucket_names(stand_in_spec("dev"))
    assert {name.removeprefix("bucket-"): b["name"] for name, b in gcs.items()} == bucket_names(stand_in_spec("prod"))


def test_each_cloud_expires_old_versions_and_stale_uploads_after_the_same_days(stacks):
    for lifecycle in resources(stacks["dev"], "aws_s3_bucket_lifecycle_configuration").values():
        [rule] = lifecycle["rule"]
        assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": NONCURRENT_VERSION_DAYS}]
        assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": INCOMPLETE_UPLOAD_DAYS}]
    for bucket in resources(stacks["prod"], "google_storage_bucket").values():
        expire, abort = bucket["lifecycle_rule"]
        assert expire["condition"]["days_since_noncurrent_time"] == NONCURRENT_VERSION_DAYS
        assert abort["condition"]["age"] == INCOMPLETE_UPLOAD_DAYS
