"""IAM documents and roles every AWS construct writes the same way."""

from __future__ import annotations

import json
from typing import Any

from cdktn_provider_aws import iam_role
from constructs import Construct

from modules.cloud.stack import declare

AWS_MANAGED = "arn:aws:iam::aws:policy"
# What every EKS node runs with: join the cluster, pull images, give pods VPC addresses.
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy")


def policy_document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def assume_role_policy(service: str, *, tag_session: bool = False) -> str:
    """Trust for one AWS service; Pod Identity (pods.eks.amazonaws.com) also tags the session."""
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else ["sts:AssumeRole"]
    return policy_document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}])


def pod_identity_role(scope: Construct, construct_id: str, name: str) -> iam_role.IamRole:
    """An IAM role a Kubernetes service account assumes through EKS Pod Identity."""
    return declare(
        iam_role.IamRole,
        scope,
        construct_id,
        name=name,
        assume_role_policy=assume_role_policy("pods.eks.amazonaws.com", tag_session=True),
    )
