"""Karpenter's AWS half on EKS: the role its nodes run as (and their access entry), the controller's
least-privilege role through Pod Identity, and the interruption queue EventBridge fills. A construct of
its own (its addresses carry `karpenter_`), declared by modules/cloud/eks/node_pools.py with the tag
Karpenter finds the cluster security group by (the subnets' tag: modules/cloud/eks/network.py).

The names come from modules/spec/karpenter.py (the cluster program's NodePools and EC2NodeClasses name
the same role, queue and discovery tag). The controller policy follows Karpenter's own reference policy
(its getting-started CloudFormation): launches only with this cluster's tags, deletes only what it
launched, reads prices and SSM AMI parameters, passes only the node role.
"""

from __future__ import annotations

import json
from typing import Any

from cdktn_provider_aws import (
    cloudwatch_event_rule,
    cloudwatch_event_target,
    eks_access_entry,
    eks_cluster,
    eks_pod_identity_association,
    iam_role_policy,
    sqs_queue,
    sqs_queue_policy,
)
from constructs import Construct

from modules.cloud.eks.policies import (
    NODE_POLICIES,
    deny_insecure_transport,
    pod_identity_role,
    policy_document,
    service_role,
)
from modules.cloud.stack import declare
from modules.spec import Spec
from modules.spec.karpenter import (
    NAMESPACE,
    SERVICE_ACCOUNT,
    controller_role_name,
    interruption_queue_name,
    node_role_name,
)

# The events Karpenter acts on before AWS takes a node: it drains the node and launches a replacement.
INTERRUPTION_EVENTS = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
QUEUE_RETENTION_SECONDS = 300  # an interruption notice older than the 2-minute warning is useless


def _profile_condition(tag: str, cluster_tags: dict[str, str], region: str) -> dict[str, Any]:
    """Karpenter tags the instance profiles it makes with the cluster, region and EC2NodeClass: `tag` is
    RequestTag where it creates one, ResourceTag where it changes one that exists."""
    return {
        "StringEquals": cluster_tags | {f"aws:{tag}/topology.kubernetes.io/region": region},
        "StringLike": {f"aws:{tag}/karpenter.k8s.aws/ec2nodeclass": "*"},
    }


def controller_policy(spec: Spec, region: str, account: str, queue_arn: str, node_role_arn: str) -> str:
    cluster = spec.cluster_name
    ec2 = f"arn:aws:ec2:{region}"
    launched = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface", "launch-template")]
    launched.append(f"{ec2}:*:spot-instances-request/*")
    this_cluster = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster,
    }
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    profiles = f"arn:aws:iam::{account}:instance-profile/*"
    statements = [
        {
            "Sid": "LaunchFromSharedResources",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*"],
        },
        {
            "Sid": "LaunchFromOwnTemplates",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": f"{ec2}:*:launch-template/*",
            "Condition": {"StringEquals": owned, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "CreateOnlyTaggedForThisCluster",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Resource": launched,
            "Condition": {"StringEquals": this_cluster, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "TagWhileCreating",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": launched,
            "Condition": {
                "StringEquals": this_cluster
                | {"ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "TagOwnInstances",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"{ec2}:*:instance/*",
            "Condition": {
                "StringEquals": owned,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        },
        {
            "Sid": "DeleteOnlyOwn",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Condition": {"StringEquals": owned, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "ReadRegion",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "ReadAmiParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:aws:ssm:{region}::parameter/aws/service/*",
        },
        {"Sid": "ReadPrices", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {
            "Sid": "ReadInterruptions",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            "Resource": queue_arn,
        },
        {
            "Sid": "PassNodeRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": node_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
        {
            "Sid": "CreateInstanceProfiles",
            "Effect": "Allow",
            "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"],
            "Resource": profiles,
            "Condition": _profile_condition("RequestTag", this_cluster, region),
        },
        {
            "Sid": "ManageOwnInstanceProfiles",
            "Effect": "Allow",
            "Action": [
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            "Resource": profiles,
            "Condition": _profile_condition("ResourceTag", owned, region),
        },
        {
            "Sid": "ReadInstanceProfiles",
            "Effect": "Allow",
            "Action": ["iam:GetInstanceProfile", "iam:ListInstanceProfiles"],
            "Resource": profiles,
        },
        {
            "Sid": "DiscoverApiEndpoint",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": f"arn:aws:eks:{region}:{account}:cluster/{cluster}",
        },
    ]
    return policy_document(statements)


def queue_policy(queue_arn: str) -> str:
    """EventBridge (and SQS itself) may send; nothing may use it without TLS."""
    return policy_document(
        [
            {
                "Sid": "EventBridgeSends",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            deny_insecure_transport("sqs", queue_arn),
        ]
    )


class KarpenterAws(Construct):
    """The node role and its access entry, the interruption queue and its rules, the controller role."""

    def __init__(
        self, scope: Construct, spec: Spec, *, cluster: eks_cluster.EksCluster, region: str, account: str
    ) -> None:
        super().__init__(scope, "karpenter")
        node_role = service_role(
            self, "node", name=node_role_name(spec), service="ec2.amazonaws.com", managed=NODE_POLICIES
        )
        # API authentication mode: a node joins only through an access entry of its role.
        declare(
            eks_access_entry.EksAccessEntry,
            self,
            "node-access",
            cluster_name=cluster.name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
        )
        queue = declare(
            sqs_queue.SqsQueue,
            self,
            "interruptions",
            name=interruption_queue_name(spec),
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
        )
        declare(
            sqs_queue_policy.SqsQueuePolicy,
            self,
            "interruptions-policy",
            queue_url=queue.url,
            policy=queue_policy(queue.arn),
        )
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = declare(
                cloudwatch_event_rule.CloudwatchEventRule,
                self,
                f"rule-{event}",
                name=f"{spec.cluster_name}-karpenter-{event}",
                event_pattern=json.dumps(pattern),
            )
            declare(
                cloudwatch_event_target.CloudwatchEventTarget,
                self,
                f"rule-{event}-target",
                rule=rule.name,
                arn=queue.arn,
            )
        controller = pod_identity_role(self, "controller-role", controller_role_name(spec))
        declare(
            iam_role_policy.IamRolePolicy,
            self,
            "controller-policy",
            role=controller.id,
            policy=controller_policy(spec, region, account, queue.arn, node_role.arn),
        )
        declare(
            eks_pod_identity_association.EksPodIdentityAssociation,
            self,
            "controller-identity",
            cluster_name=cluster.name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=controller.arn,
        )
