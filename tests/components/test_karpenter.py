"""Karpenter on EKS: each GPU pool a NodePool and an EC2NodeClass derived from the pool, naming the AWS
objects the cloud stack creates (tests/cloud/test_eks.py reads the same names from the stack)."""

from __future__ import annotations

import pytest

from modules.components.contents import helm_releases
from modules.components.karpenter import karpenter_objects, karpenter_values
from modules.components.kueue import flavor_name, resource_flavors
from modules.spec import SpecInvalid, validate
from modules.spec.karpenter import DISCOVERY_TAG, interruption_queue_name, node_role_name
from modules.versions import binary
from tests.specs import STAND_INS, stand_in, stand_in_spec


def by_kind(spec, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in karpenter_objects(spec) if o["kind"] == kind}


def test_each_gpu_pool_scales_from_zero_to_its_maximum_on_its_own_instance_type():
    spec = stand_in_spec("dev")
    pools, classes = by_kind(spec, "NodePool"), by_kind(spec, "EC2NodeClass")
    assert sorted(pools) == sorted(classes) == sorted(p.name for p in spec.gpu_pools)
    for pool in spec.gpu_pools:
        node_pool = pools[pool.name]["spec"]
        assert "replicas" not in node_pool  # demand-driven: zero nodes until a pod is pending
        assert node_pool["limits"] == {"nvidia.com/gpu": str(pool.max_nodes * pool.gpus_per_node)}
        requirements = {r["key"]: r["values"] for r in node_pool["template"]["spec"]["requirements"]}
        assert requirements["node.kubernetes.io/instance-type"] == [pool.facts.eks_instance_types[pool.gpus_per_node]]
        assert requirements["karpenter.sh/capacity-type"] == ["spot" if pool.spot else "on-demand"]
        assert requirements["topology.kubernetes.io/zone"] == list(spec.cluster.zones)
        assert node_pool["template"]["spec"]["nodeClassRef"]["name"] == pool.name
        assert node_pool["disruption"]["consolidationPolicy"] == "WhenEmpty"  # never moves a running job


def test_nodes_carry_what_kueues_flavor_selects_and_tolerates():
    spec = stand_in_spec("dev")
    flavors = {f["metadata"]["name"]: f["spec"] for f in resource_flavors(spec)}
    for pool in spec.gpu_pools:
        template = by_kind(spec, "NodePool")[pool.name]["spec"]["template"]
        flavor = flavors[flavor_name(pool)]
        assert template["metadata"]["labels"] == flavor["nodeLabels"]
        assert [t | {"operator": "Equal"} for t in template["spec"]["taints"]] == flavor["tolerations"]


def test_node_classes_launch_into_this_clusters_discovered_network_as_its_node_role_with_imdsv2_only():
    spec = stand_in_spec("dev")
    for node_class in by_kind(spec, "EC2NodeClass").values():
        node_class_spec = node_class["spec"]
        assert node_class_spec["role"] == node_role_name(spec)
        discovered = [{"tags": {DISCOVERY_TAG: spec.cluster_name}}]
        assert node_class_spec["subnetSelectorTerms"] == node_class_spec["securityGroupSelectorTerms"] == discovered
        assert node_class_spec["metadataOptions"]["httpTokens"] == "required"
        assert node_class_spec["metadataOptions"]["httpPutResponseHopLimit"] == 1  # pods cannot reach IMDS
        assert node_class_spec["amiSelectorTerms"] == [{"alias": f"al2023@{binary('eks-al2023-ami')}"}]
        assert all(d["ebs"]["encrypted"] for d in node_class_spec["blockDeviceMappings"])


def test_the_controller_watches_this_clusters_interruption_queue():
    spec = stand_in_spec("dev")
    settings = karpenter_values(spec)["settings"]
    assert settings == {"clusterName": "cnai-dev", "interruptionQueue": interruption_queue_name(spec)}
    assert [r["name"] for r in helm_releases(spec) if r["name"].startswith("karpenter")] == [
        "karpenter-crd",
        "karpenter",
    ]


@pytest.mark.parametrize("env", [e for e in STAND_INS if stand_in_spec(e).cluster.target != "eks"])
def test_only_eks_runs_karpenter(env: str):
    spec = stand_in_spec(env)
    assert karpenter_objects(spec) == []
    assert not [r for r in helm_releases(spec) if r["name"].startswith("karpenter")]


def error_paths(document: dict) -> list[str]:
    try:
        validate("dev", document)
    except SpecInvalid as invalid:
        return [e.path for e in invalid.errors]
    return []


def test_a_mixed_strategy_mig_pool_on_eks_is_refused_since_karpenter_cannot_launch_for_it():
    document = stand_in("dev")
    document["gpu_pools"][0]["accelerator"] = "nvidia-a100-80gb"
    document["gpu_pools"][0]["gpus_per_node"] = 8
    document["gpu_pools"][0]["sharing"] = {"mode": "mig", "mig_profile": "1g.10gb"}
    document["components"]["gpu_operator"]["mig_strategy"] = "mixed"
    assert "components.gpu_operator.mig_strategy" in error_paths(document)
    document["components"]["gpu_operator"]["mig_strategy"] = "single"  # slices advertised as nvidia.com/gpu
    assert "components.gpu_operator.mig_strategy" not in error_paths(document)
