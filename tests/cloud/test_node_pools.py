"""Cloud GPU node pools derive from the spec's pools, consistently with the GPU Operator's driver."""

from __future__ import annotations

import pytest

from modules.cloud.node_pools import eks_node_groups, gke_node_pools
from modules.spec import SpecInvalid, load_spec, validate
from tests.conftest import assert_golden, env_document


def test_eks_pool_is_spot_a10g_with_the_driver_image_and_gpu_taint():
    spec = load_spec("dev")
    [system, gpu] = eks_node_groups(spec)
    assert system["node_group_name"] == "system" and "taint" not in system
    assert gpu["instance_types"] == ["g5.xlarge"] and gpu["capacity_type"] == "SPOT"
    assert gpu["ami_type"] == "AL2023_x86_64_NVIDIA"  # driver: preinstalled
    assert gpu["labels"] == spec.gpu_pools[0].node_labels
    assert gpu["taint"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert gpu["scaling_config"] == {"min_size": 0, "max_size": 4, "desired_size": 0}


def test_gke_installs_the_driver_and_the_operator_partitions_mig():
    """NVIDIA's "Google driver installer" layout: GKE the driver, the operator's MIG manager the slices
    (GKE partitioning too would be a second MIG owner), GKE's device plugin off by label."""
    pools = {p["name"]: p for p in gke_node_pools(load_spec("prod"))}
    [accelerator] = pools["a100-mig"]["node_config"]["guest_accelerator"]
    assert accelerator == {
        "type": "nvidia-a100-80gb",
        "count": 8,
        "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"},
    }
    assert pools["a100-mig"]["node_config"]["labels"]["gke-no-default-nvidia-gpu-device-plugin"] == "true"
    assert pools["h100-train"]["node_config"]["machine_type"] == "a3-highgpu-8g"


def test_a_node_shape_the_cloud_does_not_offer_is_a_spec_error():
    document = env_document("dev")
    document["gpu_pools"][0]["gpus_per_node"] = 3
    with pytest.raises(SpecInvalid) as info:
        validate("dev", document)
    assert "EKS offers nvidia-a10g with 1, 4, 8 per node" in str(info.value)


@pytest.mark.parametrize(("env", "builder"), [("dev", eks_node_groups), ("prod", gke_node_pools)])
def test_golden_node_pools(env, builder):
    import json

    assert_golden(f"cloud/{env}-node-pools.json", json.dumps(builder(load_spec(env)), indent=2) + "\n")
