"""The EKS control plane, the KMS key that encrypts its secrets (and the buckets and logs), and the
managed add-ons, the EBS CSI driver with its own Pod Identity role among them."""

from __future__ import annotations

import json

from cdktn import TerraformStack
from cdktn_provider_aws import eks_addon, eks_cluster, iam_role_policy_attachment, kms_key, subnet

from modules.cloud.eks.policies import AWS_MANAGED, pod_identity_role, policy_document, service_role
from modules.cloud.stack import declare
from modules.spec import Spec
from modules.versions import binary

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# Managed add-ons whose versions EKS matches to the control plane's (pinned through binaries/kubernetes).
ADDONS = ("vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent")
# The VPC CNI enforces NetworkPolicies only when asked (its network-policy agent); without this every
# NetworkPolicy cnai declares would be accepted by the API server and enforced by nothing.
ADDON_CONFIGURATION = {"vpc-cni": {"enableNetworkPolicy": "true"}}
EBS_CSI = {"addon": "aws-ebs-csi-driver", "namespace": "kube-system", "service_account": "ebs-csi-controller-sa"}
CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def key_policy(account_id: str, region: str) -> str:
    """The account administers the key; CloudWatch Logs may use it for the encrypted log groups."""
    statements = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogs",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*",
        },
    ]
    return policy_document(statements)


def declare_key(stack: TerraformStack, spec: Spec, account_id: str) -> kms_key.KmsKey:
    """One key for Kubernetes secrets, the buckets and the log groups."""
    return declare(
        kms_key.KmsKey,
        stack,
        "key",
        description=f"cnai {spec.name}: Kubernetes secrets, buckets, logs",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=key_policy(account_id, spec.cluster.region or ""),
    )


def declare_cluster(
    stack: TerraformStack, spec: Spec, key: kms_key.KmsKey, private_subnets: list[subnet.Subnet]
) -> eks_cluster.EksCluster:
    """The control plane in the private subnets; its endpoint is public only for cluster.api_access_cidrs."""
    cidrs = list(spec.cluster.api_access_cidrs)
    role = service_role(
        stack, "cluster", name=f"{spec.cluster_name}-cluster", service="eks.amazonaws.com", managed=CLUSTER_POLICIES
    )
    cluster = declare(
        eks_cluster.EksCluster,
        stack,
        "cluster",
        name=spec.cluster_name,
        version=binary("kubernetes"),
        role_arn=role.arn,
        vpc_config={
            "subnet_ids": [s.id for s in private_subnets],
            "endpoint_private_access": True,
            "endpoint_public_access": bool(cidrs),
            **({"public_access_cidrs": cidrs} if cidrs else {}),
        },
        access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
        encryption_config={"resources": ["secrets"], "provider": {"key_arn": key.arn}},
        enabled_cluster_log_types=CONTROL_PLANE_LOGS,
        deletion_protection=spec.cluster.protect,
    )
    _addons(stack, cluster)
    _ebs_csi(stack, spec, cluster)
    return cluster


def _addons(stack: TerraformStack, cluster: eks_cluster.EksCluster) -> None:
    for addon in ADDONS:
        settings = {"configuration_values": json.dumps(c)} if (c := ADDON_CONFIGURATION.get(addon)) else {}
        declare(eks_addon.EksAddon, stack, f"addon-{addon}", cluster_name=cluster.name, addon_name=addon, **settings)


def _ebs_csi(stack: TerraformStack, spec: Spec, cluster: eks_cluster.EksCluster) -> None:
    """The add-on carries its Pod Identity association itself (no separate association resource)."""
    role = pod_identity_role(stack, "ebs-csi-role", f"{spec.cluster_name}-ebs-csi")
    declare(
        iam_role_policy_attachment.IamRolePolicyAttachment,
        stack,
        "ebs-csi-policy",
        role=role.name,
        policy_arn=f"{AWS_MANAGED}/service-role/AmazonEBSCSIDriverPolicy",
    )
    declare(
        eks_addon.EksAddon,
        stack,
        "addon-aws-ebs-csi-driver",
        cluster_name=cluster.name,
        addon_name=EBS_CSI["addon"],
        pod_identity_association=[{"role_arn": role.arn, "service_account": EBS_CSI["service_account"]}],
    )
