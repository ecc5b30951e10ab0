"""The EKS control plane, its key and add-ons (modules/cloud/eks/cluster.py), synthesized for dev."""

from __future__ import annotations

import json

from tests.cloud.conftest import resources


def test_cluster_is_private_encrypted_logged_and_on_the_bom_version(stacks):
    [cluster] = resources(stacks["dev"], "aws_eks_cluster").values()
    assert cluster["version"] == "1.35"  # binaries/kubernetes in the bill of materials
    assert cluster["vpc_config"]["endpoint_private_access"] is True
    assert cluster["vpc_config"]["public_access_cidrs"] == ["203.0.113.0/24"]
    assert cluster["encryption_config"]["resources"] == ["secrets"]
    assert set(cluster["enabled_cluster_log_types"]) >= {"api", "audit"}
    subnets = [s.split(".")[1].split("}")[0] for s in cluster["vpc_config"]["subnet_ids"]]
    assert all(name.startswith("private-") for name in subnets)


def test_ebs_csi_and_pod_identity_agent_are_installed(stacks):
    addons = {a["addon_name"] for a in resources(stacks["dev"], "aws_eks_addon").values()}
    assert {"aws-ebs-csi-driver", "eks-pod-identity-agent", "vpc-cni", "coredns", "kube-proxy"} <= addons


def test_the_vpc_cni_enforces_network_policies(stacks):
    """Without its network-policy agent the VPC CNI ignores every NetworkPolicy cnai declares."""
    cni = next(a for a in resources(stacks["dev"], "aws_eks_addon").values() if a["addon_name"] == "vpc-cni")
    assert json.loads(cni["configuration_values"]) == {"enableNetworkPolicy": "true"}
