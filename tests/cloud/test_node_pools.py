"""Cloud node pools derive from the spec's pools, consistently with the GPU Operator's driver (EKS GPU pools:
tests/components/test_karpenter.py)."""

from __future__ import annotations

import pytest

from modules.cloud.node_pools import eks_node_groups, gke_node_pools
from modules.spec import SpecInvalid, validate
from tests.specs import stand_in, stand_in_spec


def test_eks_has_only_the_system_group_and_its_gpu_pools_scale_with_karpenter():
    [system] = eks_node_groups(stand_in_spec("dev"))
    assert system["node_group_name"] == "system" and "taint" not in system


def test_an_eks_gpu_pool_with_a_minimum_is_refused_naming_karpenter():
    document = stand_in("dev")
    document["gpu_pools"][0]["min_nodes"] = 1
    with pytest.raises(SpecInvalid) as refused:
        validate("dev", document)
    [error] = refused.value.errors
    assert error.path == "gpu_pools[0].min_nodes" and "Karpenter" in str(refused.value)


def test_gke_installs_the_driver_and_the_operator_partitions_mig():
    """NVIDIA's "Google driver installer" layout: GKE the driver, the operator's MIG manager the slices
    (GKE partitioning too would be a second MIG owner), GKE's device plugin off by label."""
    pools = {p["name"]: p for p in gke_node_pools(stand_in_spec("prod"))}
    [accelerator] = pools["a100-mig"]["node_config"]["guest_accelerator"]
    assert accelerator == {
        "type": "nvidia-a100-80gb",
        "count": 8,
        "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"},
    }
    assert pools["a100-mig"]["node_config"]["labels"]["gke-no-default-nvidia-gpu-device-plugin"] == "true"
    assert pools["h100-train"]["node_config"]["machine_type"] == "a3-highgpu-8g"


def test_a_node_shape_the_cloud_does_not_offer_is_a_spec_error():
    document = stand_in("dev")
    document["gpu_pools"][0]["gpus_per_node"] = 3
    with pytest.raises(SpecInvalid) as info:
        validate("dev", document)
    assert "EKS offers nvidia-a10g with 1, 4, 8 per node" in str(info.value)
