"""EKS nodes: the system managed node group, and for the GPU pools Karpenter's AWS half.

The groups' shape comes from modules/cloud/node_pools.py (shared with GKE, the sim and `cnai doctor`);
the GPU pools are Karpenter NodePools (modules/components/karpenter.py), since a managed node group stays
at its desired size without an autoscaler.
"""

from __future__ import annotations

from cdktn import TerraformStack
from cdktn_provider_aws import ec2_tag, eks_cluster, eks_node_group, subnet

from modules.cloud.eks.karpenter import KarpenterAws
from modules.cloud.eks.policies import NODE_POLICIES, service_role
from modules.cloud.node_pools import eks_node_groups
from modules.cloud.stack import declare
from modules.spec import Spec
from modules.spec.karpenter import DISCOVERY_TAG, uses_karpenter


def declare_node_pools(
    stack: TerraformStack,
    spec: Spec,
    cluster: eks_cluster.EksCluster,
    private_subnets: list[subnet.Subnet],
    account_id: str,
) -> None:
    node_role = service_role(
        stack, "nodes", name=f"{spec.cluster_name}-nodes", service="ec2.amazonaws.com", managed=NODE_POLICIES
    )
    for group in eks_node_groups(spec):
        declare(
            eks_node_group.EksNodeGroup,
            stack,
            f"pool-{group['node_group_name']}",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=[s.id for s in private_subnets],
            **group,
        )
    if uses_karpenter(spec):
        _karpenter(stack, spec, cluster, account_id)


def _karpenter(stack: TerraformStack, spec: Spec, cluster: eks_cluster.EksCluster, account_id: str) -> None:
    # The nodes Karpenter launches join through the cluster security group, found by this tag.
    declare(
        ec2_tag.Ec2Tag,
        stack,
        "cluster-sg-discovery",
        resource_id=cluster.vpc_config.cluster_security_group_id,
        key=DISCOVERY_TAG,
        value=spec.cluster_name,
    )
    KarpenterAws(stack, spec, cluster=cluster, region=spec.cluster.region or "", account=account_id)
