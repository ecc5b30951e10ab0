"""Workload identity (modules/cloud/gke/identities.py), synthesized for prod."""

from __future__ import annotations

from tests.cloud.conftest import resources


def test_each_workload_gets_its_service_account_bound_to_its_kubernetes_one_and_its_buckets_only(stacks):
    stack = stacks["prod"]
    bindings = {b["member"] for b in resources(stack, "google_service_account_iam_member").values()}
    assert "serviceAccount:acme-cnai-prod.svc.id.goog[cnai-milvus/milvus]" in bindings
    assert "serviceAccount:acme-cnai-prod.svc.id.goog[team-serving/serving-models]" in bindings
    grants = resources(stack, "google_storage_bucket_iam_member")
    milvus = [g for name, g in grants.items() if name.startswith("identity-milvus-")]
    assert [(g["bucket"], g["role"]) for g in milvus] == [
        ("${google_storage_bucket.bucket-milvus.name}", "roles/storage.objectAdmin")
    ]
    model_roles = {g["role"] for name, g in grants.items() if name.startswith("identity-models-")}
    assert model_roles == {"roles/storage.objectViewer"}
    assert not any(g["member"].startswith("allUsers") for g in grants.values())
