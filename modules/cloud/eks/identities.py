"""An IAM role per workload (modules/components/identities.py), reaching exactly its buckets and their
key, assumed by its Kubernetes service account through an EKS Pod Identity association."""

from __future__ import annotations

from cdktn import TerraformStack
from cdktn_provider_aws import eks_cluster, eks_pod_identity_association, iam_role, iam_role_policy, kms_key, s3_bucket

from modules.cloud.eks.policies import pod_identity_role, policy_document
from modules.cloud.stack import declare
from modules.components.catalog import workloads
from modules.components.identities import IAM_ROLE_MAX, Workload, cloud_name
from modules.spec import Spec


def bucket_access_policy(bucket_arns: list[str], key_arn: str, writes: bool) -> str:
    """Exactly the workload's buckets, objects within them, and the key that encrypts them."""
    object_actions = ["s3:GetObject", "s3:GetObjectVersion"]
    if writes:
        object_actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    key_actions = ["kms:Decrypt", "kms:GenerateDataKey"] if writes else ["kms:Decrypt"]
    statements = [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arns},
        {"Effect": "Allow", "Action": object_actions, "Resource": [f"{arn}/*" for arn in bucket_arns]},
        {"Effect": "Allow", "Action": key_actions, "Resource": [key_arn]},
    ]
    return policy_document(statements)


def declare_identities(
    stack: TerraformStack,
    spec: Spec,
    key: kms_key.KmsKey,
    cluster: eks_cluster.EksCluster,
    buckets: dict[str, s3_bucket.S3Bucket],
) -> dict[str, iam_role.IamRole]:
    """Workload name -> its role."""
    return {w.name: _workload_role(stack, spec, w, key, cluster, buckets) for w in workloads(spec)}


def _workload_role(
    stack: TerraformStack,
    spec: Spec,
    workload: Workload,
    key: kms_key.KmsKey,
    cluster: eks_cluster.EksCluster,
    buckets: dict[str, s3_bucket.S3Bucket],
) -> iam_role.IamRole:
    role = pod_identity_role(stack, f"identity-{workload.name}", cloud_name(spec, workload, IAM_ROLE_MAX))
    policy = bucket_access_policy([buckets[b].arn for b in workload.buckets], key.arn, workload.writes)
    declare(iam_role_policy.IamRolePolicy, stack, f"identity-{workload.name}-buckets", role=role.id, policy=policy)
    declare(
        eks_pod_identity_association.EksPodIdentityAssociation,
        stack,
        f"identity-{workload.name}-association",
        cluster_name=cluster.name,
        namespace=workload.namespace,
        service_account=workload.service_account,
        role_arn=role.arn,
    )
    return role
