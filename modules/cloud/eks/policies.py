"""IAM documents and roles every EKS concern writes the same way."""

from __future__ import annotations

import json
from typing import Any

from cdktn_provider_aws import iam_role, iam_role_policy_attachment
from constructs import Construct

from modules.cloud.stack import declare

AWS_MANAGED = "arn:aws:iam::aws:policy"
# What every EKS node runs with: join the cluster, pull images, give pods VPC addresses.
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy")


def policy_document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def deny_insecure_transport(service: str, resource: str | list[str]) -> dict[str, Any]:
    """A resource policy statement refusing every request of `service` that does not come over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": f"{service}:*",
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def assume_role_policy(service: str, *, tag_session: bool = False) -> str:
    """Trust for one AWS service; Pod Identity (pods.eks.amazonaws.com) also tags the session."""
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else ["sts:AssumeRole"]
    return policy_document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}])


def service_role(
    scope: Construct, prefix: str, *, name: str, service: str, managed: tuple[str, ...] = ()
) -> iam_role.IamRole:
    """A role `service` assumes, with AWS-managed policies attached. The construct ids (`<prefix>-role`,
    `<prefix>-<policy>`) are the resources' addresses: changing them replaces the live roles."""
    role = declare(iam_role.IamRole, scope, f"{prefix}-role", name=name, assume_role_policy=assume_role_policy(service))
    for policy in managed:
        declare(
            iam_role_policy_attachment.IamRolePolicyAttachment,
            scope,
            f"{prefix}-{policy}",
            role=role.name,
            policy_arn=f"{AWS_MANAGED}/{policy}",
        )
    return role


def pod_identity_role(scope: Construct, construct_id: str, name: str) -> iam_role.IamRole:
    """An IAM role a Kubernetes service account assumes through EKS Pod Identity."""
    return declare(
        iam_role.IamRole,
        scope,
        construct_id,
        name=name,
        assume_role_policy=assume_role_policy("pods.eks.amazonaws.com", tag_session=True),
    )
