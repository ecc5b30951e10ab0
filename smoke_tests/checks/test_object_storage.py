"""Object storage: put/get/list/delete with sha256, a multipart upload >= 64 MiB, wrong keys refused."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
from botocore.exceptions import ClientError

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import reaching, require, s3_client

MULTIPART_BYTES = 64 * 1024 * 1024 + 123  # just over 64 MiB: several 8 MiB parts and a short tail


@pytest.fixture
def store(endpoints: Endpoints):
    require(endpoints, "object_storage")
    return s3_client(endpoints), endpoints.object_store.buckets[0]


def test_buckets_exist(store, endpoints: Endpoints):
    client, _ = store
    with reaching("object_storage", endpoints.object_store.s3_url):
        names = {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert set(endpoints.object_store.buckets) <= names


def test_put_get_list_delete_round_trip(store, endpoints: Endpoints):
    client, bucket = store
    key, body = f"smoke/{uuid.uuid4()}.bin", os.urandom(1024 * 1024)
    with reaching("object_storage", endpoints.object_store.s3_url):
        client.put_object(Bucket=bucket, Key=key, Body=body)
        fetched = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        listed = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="smoke/")["Contents"]]
        client.delete_object(Bucket=bucket, Key=key)
        after = client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0)
    assert hashlib.sha256(fetched).hexdigest() == hashlib.sha256(body).hexdigest()
    assert key in listed
    assert after == 0


def test_multipart_upload(store, endpoints: Endpoints, tmp_path):
    client, bucket = store
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(MULTIPART_BYTES))
    key = f"smoke/multipart-{uuid.uuid4()}.bin"
    with reaching("object_storage", endpoints.object_store.s3_url):
        client.upload_file(str(source), bucket, key)  # boto3 switches to multipart above 8 MiB
        head = client.head_object(Bucket=bucket, Key=key)
        digest = hashlib.sha256(client.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
        client.delete_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == MULTIPART_BYTES
    assert "-" in head["ETag"], "a multipart upload's ETag is <md5>-<parts>"
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()


def test_wrong_credentials_are_rejected(store, endpoints: Endpoints):
    _, bucket = store
    intruder = s3_client(endpoints, ("CNAIWRONGKEY0000000", "not-the-secret"))
    with reaching("object_storage", endpoints.object_store.s3_url), pytest.raises(ClientError) as info:
        intruder.list_objects_v2(Bucket=bucket)
    assert info.value.response["Error"]["Code"] in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")
