"""GKE node pools (modules/cloud/gke/node_pools.py), synthesized for prod: GPU pools with accelerators and MIG."""

from __future__ import annotations

import cdktn

from tests.cloud.conftest import resources
from tests.specs import stand_in_spec


def test_each_gpu_pool_is_one_node_pool_with_accelerator_partition_taint_labels_and_scaling(synthesized):
    spec = stand_in_spec("prod")
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


def test_gke_installs_the_driver_at_its_default_for_the_pinned_version(stacks):
    pools = resources(stacks["prod"], "google_container_node_pool")
    driver = pools["pool-h100-train"]["node_config"]["guest_accelerator"][0]["gpu_driver_installation_config"]
    assert stand_in_spec("prod").components.gpu_operator.driver == "preinstalled"
    assert driver == {"gpu_driver_version": "DEFAULT"}  # never LATEST, which floats
