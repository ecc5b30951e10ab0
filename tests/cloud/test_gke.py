"""The GKE stack (prod), synthesized by cdktn: GPU node pools with accelerators and MIG, workload identity."""

from __future__ import annotations

import cdktn

from modules.spec import load_spec
from tests.cloud.conftest import resources


def test_each_gpu_pool_is_one_node_pool_with_accelerator_partition_taint_labels_and_scaling(synthesized):
    spec = load_spec("prod")
    received = synthesized["prod"].read_text()
    expected = {"h100-train": ("a3-highgpu-8g", "nvidia-h100-80gb"), "a100-mig": ("a2-ultragpu-8g", "nvidia-a100-80gb")}
    for pool in spec.gpu_pools:
        machine, accelerator = expected[pool.name]
        # GKE's installer at the BOM's driver; the MIG partitions are the operator's (no gpu_partition_size).
        guest = {"type": accelerator, "count": 8, "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"}}
        assert cdktn.Testing.to_have_resource_with_properties(
            received,
            "google_container_node_pool",
            {
                "name": pool.name,
                "autoscaling": {"min_node_count": pool.min_nodes, "max_node_count": pool.max_nodes},
                "node_config": {
                    "machine_type": machine,
                    "guest_accelerator": [guest],
                    "labels": pool.node_labels | {"gke-no-default-nvidia-gpu-device-plugin": "true"},
                    "taint": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
                    "spot": False,
                    "workload_metadata_config": {"mode": "GKE_METADATA"},
                },
            },
        )


def test_cluster_is_regional_vpc_native_private_with_workload_identity(stacks):
    [cluster] = resources(stacks["prod"], "google_container_cluster").values()
    assert cluster["location"] == "europe-west4" and cluster["networking_mode"] == "VPC_NATIVE"
    assert cluster["workload_identity_config"] == {"workload_pool": "acme-cnai-prod.svc.id.goog"}
    assert cluster["private_cluster_config"]["enable_private_nodes"] is True
    assert cluster["remove_default_node_pool"] is True and cluster["deletion_protection"] is True
    assert cluster["database_encryption"]["state"] == "ENCRYPTED"


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


def test_gke_installs_the_driver_at_its_default_for_the_pinned_version(stacks):
    pools = resources(stacks["prod"], "google_container_node_pool")
    driver = pools["pool-h100-train"]["node_config"]["guest_accelerator"][0]["gpu_driver_installation_config"]
    assert load_spec("prod").components.gpu_operator.driver == "preinstalled"
    assert driver == {"gpu_driver_version": "DEFAULT"}  # never LATEST, which floats
