"""Karpenter's AWS half (modules/cloud/eks/karpenter.py): node and controller roles, the interruption queue."""

from __future__ import annotations

import json

from modules.cloud.eks.karpenter import controller_policy
from modules.spec.karpenter import (
    NAMESPACE,
    SERVICE_ACCOUNT,
    interruption_queue_name,
    node_role_name,
)
from tests.cloud.conftest import resources
from tests.specs import stand_in_spec


def test_karpenter_nodes_join_and_its_controller_may_only_launch_and_end_this_clusters_nodes(stacks):
    spec = stand_in_spec("dev")
    roles = {r["name"]: r for r in resources(stacks["dev"], "aws_iam_role").values()}
    assert "ec2.amazonaws.com" in roles[node_role_name(spec)]["assume_role_policy"]
    [entry] = resources(stacks["dev"], "aws_eks_access_entry").values()
    assert entry["type"] == "EC2_LINUX" and "node-role" in entry["principal_arn"]
    [association] = [
        a for a in resources(stacks["dev"], "aws_eks_pod_identity_association").values() if a["namespace"] == NAMESPACE
    ]
    assert association["service_account"] == SERVICE_ACCOUNT and "controller-role" in association["role_arn"]
    policy = json.loads(controller_policy(spec, "us-east-1", "111122223333", "QUEUE_ARN", "NODE_ROLE_ARN"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    owned = {"aws:ResourceTag/kubernetes.io/cluster/cnai-dev": "owned"}
    assert by_sid["DeleteOnlyOwn"]["Condition"]["StringEquals"] == owned
    assert by_sid["PassNodeRole"]["Resource"] == "NODE_ROLE_ARN"
    assert by_sid["ReadInterruptions"]["Resource"] == "QUEUE_ARN"
    assert all(s["Resource"] != "*" for s in policy["Statement"] if s["Sid"] not in ("ReadRegion", "ReadPrices"))


def test_interruption_events_reach_an_encrypted_queue_only_eventbridge_writes(stacks):
    spec = stand_in_spec("dev")
    [queue] = resources(stacks["dev"], "aws_sqs_queue").values()
    assert queue["name"] == interruption_queue_name(spec) and queue["sqs_managed_sse_enabled"] is True
    rules = resources(stacks["dev"], "aws_cloudwatch_event_rule").values()
    kinds = {json.loads(r["event_pattern"])["detail-type"][0] for r in rules}
    assert "EC2 Spot Instance Interruption Warning" in kinds and len(kinds) == 4
    assert len(resources(stacks["dev"], "aws_cloudwatch_event_target")) == 4
    [queue_policy_resource] = resources(stacks["dev"], "aws_sqs_queue_policy").values()
    statements = json.loads(queue_policy_resource["policy"])["Statement"]
    assert statements[0]["Principal"]["Service"] == ["events.amazonaws.com", "sqs.amazonaws.com"]
