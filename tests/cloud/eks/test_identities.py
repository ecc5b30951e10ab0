"""Workload roles scoped to their buckets (modules/cloud/eks/identities.py), synthesized for dev."""

from __future__ import annotations

import json

from modules.cloud.eks.identities import bucket_access_policy
from tests.cloud.conftest import resources


def test_workload_roles_reach_exactly_their_buckets_and_no_wildcard_resource(stacks):
    stack = stacks["dev"]
    policies = {
        name.removeprefix("identity-").removesuffix("-buckets"): json.loads(p["policy"])
        for name, p in resources(stack, "aws_iam_role_policy").items()
        if name.startswith("identity-")
    }
    assert set(policies) == {"mlflow", "mlflow-db", "milvus", "models-research", "models-apps"}
    for workload, policy in policies.items():
        targets = [r for s in policy["Statement"] for r in s["Resource"]]
        assert "*" not in targets and all("*" not in r.replace("/*", "") for r in targets), workload
    milvus = policies["milvus"]["Statement"][0]["Resource"]
    assert milvus == ["${aws_s3_bucket.bucket-milvus.arn}"]
    model_actions = {a for s in policies["models-research"]["Statement"] for a in s["Action"]}
    assert "s3:PutObject" not in model_actions and "s3:GetObject" in model_actions
    associations = {
        (a["namespace"], a["service_account"]) for a in resources(stack, "aws_eks_pod_identity_association").values()
    }
    assert ("cnai-mlflow", "mlflow") in associations and ("team-apps", "apps-models") in associations
    assert ("kube-system", "ebs-csi-controller-sa") not in associations  # the EBS add-on carries its own


def test_read_only_policy_grants_no_write_and_no_data_key():
    policy = json.loads(bucket_access_policy(["arn:aws:s3:::b"], "arn:key", writes=False))
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt"}
