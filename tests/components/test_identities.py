"""Workload identities: one contract the cloud stack (IAM) and the platform (service accounts) derive."""

from __future__ import annotations

from modules.components.catalog import workloads
from modules.components.identities import GSA_MAX, Workload, cloud_name, service_account_annotations
from modules.components.kserve import kserve_objects
from modules.components.milvus import milvus_values
from modules.spec import validate
from tests.specs import stand_in, stand_in_spec


def test_workloads_of_a_cloud_store_get_only_the_buckets_they_use():
    found = {w.name: w for w in workloads(stand_in_spec("dev"))}
    assert found["milvus"].buckets == ("milvus",) and found["milvus"].writes
    assert found["models-research"].buckets == ("models", "mlflow-artifacts") and not found["models-research"].writes
    assert found["mlflow-db"].service_account == "mlflow-db"


def test_in_cluster_store_needs_no_cloud_identity():
    assert workloads(stand_in_spec("kind")) == []
    assert workloads(stand_in_spec("local")) == []


def test_a_bucket_left_out_of_the_spec_drops_its_grants():
    document = stand_in("dev")
    document["components"]["object_storage"]["buckets"] = ["mlflow-artifacts", "milvus"]
    found = {w.name: w for w in workloads(validate("dev", document))}
    assert found["models-apps"].buckets == ("mlflow-artifacts",)


def test_long_names_stay_within_google_limits_and_unique():
    spec = stand_in_spec("prod")
    long_a = Workload("models-" + "a" * 30, "ns", "sa", ("models",), False)
    long_b = Workload("models-" + "a" * 29 + "b", "ns", "sa", ("models",), False)
    names = {cloud_name(spec, w, GSA_MAX) for w in (long_a, long_b)}
    assert len(names) == 2 and all(len(n) <= GSA_MAX for n in names)


def test_gke_service_accounts_are_annotated_with_their_google_identity_where_the_chart_makes_them():
    spec = stand_in_spec("prod")
    annotation = service_account_annotations(spec, workloads(spec), "milvus")
    assert milvus_values(spec)["serviceAccount"]["annotations"] == annotation
    accounts = [o for o in kserve_objects(spec) if o["kind"] == "ServiceAccount"]
    assert {a["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] for a in accounts} == {
        "cnai-prod-models-research@acme-cnai-prod.iam.gserviceaccount.com",
        "cnai-prod-models-serving@acme-cnai-prod.iam.gserviceaccount.com",
    }
    assert (
        service_account_annotations(stand_in_spec("dev"), workloads(stand_in_spec("dev")), "milvus") == {}
    )  # EKS Pod Identity: by association
