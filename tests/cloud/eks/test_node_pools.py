"""EKS nodes (modules/cloud/eks/node_pools.py): the system node group, and the GPU pools through Karpenter."""

from __future__ import annotations

from modules.spec.karpenter import (
    DISCOVERY_TAG,
)
from tests.cloud.conftest import resources
from tests.specs import stand_in_spec


def test_gpu_pools_are_not_node_groups_and_karpenter_finds_the_private_subnets_and_cluster_sg(stacks):
    """A managed node group never leaves its desired size without an autoscaler: the GPU pools come from
    Karpenter, which launches into what carries its discovery tag."""
    spec = stand_in_spec("dev")
    groups = resources(stacks["dev"], "aws_eks_node_group").values()
    assert [g["node_group_name"] for g in groups] == ["system"]
    tagged = [s for s in resources(stacks["dev"], "aws_subnet").values() if s["tags"].get(DISCOVERY_TAG)]
    assert sorted(s["availability_zone"] for s in tagged) == sorted(spec.cluster.zones)
    assert all(s["tags"][DISCOVERY_TAG] == spec.cluster_name and "internal-elb" in str(s["tags"]) for s in tagged)
    [sg_tag] = resources(stacks["dev"], "aws_ec2_tag").values()
    assert sg_tag["key"] == DISCOVERY_TAG and "cluster_security_group_id" in sg_tag["resource_id"]
