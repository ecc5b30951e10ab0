"""Milvus: mode from the spec, segments in the platform's object store, no bundled MinIO."""

from __future__ import annotations

from modules.components.milvus import MILVUS_COMPONENTS, milvus_values
from tests.specs import stand_in_spec


def test_prod_runs_cluster_mode_on_gcs_with_workload_identity():
    values = milvus_values(stand_in_spec("prod"))
    assert values["cluster"]["enabled"] is True
    s3 = values["externalS3"]
    assert s3["cloudProvider"] == "gcp" and s3["useIAM"] is True and "accessKey" not in s3


def test_kind_runs_standalone_on_the_in_cluster_store_with_keys_from_its_secret():
    values = milvus_values(stand_in_spec("kind"))
    assert values["cluster"]["enabled"] is False
    assert values["externalS3"]["host"] == "seaweedfs-s3.cnai-storage.svc"
    assert "accessKey" not in values["externalS3"]  # the chart would write it into ConfigMap `milvus`
    for component in MILVUS_COMPONENTS:  # whichever of them the mode runs
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in values[component]["extraEnv"]}
        assert refs == {"MINIO_ACCESS_KEY_ID": "milvus-s3", "MINIO_SECRET_ACCESS_KEY": "milvus-s3"}


def test_cloud_milvus_reads_no_keys():
    assert "extraEnv" not in milvus_values(stand_in_spec("prod")).get("standalone", {})


def test_never_minio():
    for env in ("kind", "dev", "prod"):
        assert milvus_values(stand_in_spec(env))["minio"]["enabled"] is False
