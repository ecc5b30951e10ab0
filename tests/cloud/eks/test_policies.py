"""IAM pieces the EKS concerns share (modules/cloud/eks/policies.py)."""

from __future__ import annotations

import json

from tests.cloud.conftest import resources


def test_buckets_and_the_interruption_queue_refuse_requests_without_tls(stacks):
    stack = stacks["dev"]
    policies = [*resources(stack, "aws_s3_bucket_policy").values(), *resources(stack, "aws_sqs_queue_policy").values()]
    denials = [s for p in policies for s in json.loads(p["policy"])["Statement"] if s["Effect"] == "Deny"]
    assert len(denials) == len(policies) == 5
    assert all(d["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and d["Principal"] == "*" for d in denials)


def test_service_roles_are_assumed_only_by_their_service(stacks):
    roles = resources(stacks["dev"], "aws_iam_role")
    services = {
        name: json.loads(roles[name]["assume_role_policy"])["Statement"][0]["Principal"]["Service"]
        for name in ("cluster-role", "nodes-role", "flow-logs-role")
    }
    assert services == {
        "cluster-role": "eks.amazonaws.com",
        "nodes-role": "ec2.amazonaws.com",
        "flow-logs-role": "vpc-flow-logs.amazonaws.com",
    }
