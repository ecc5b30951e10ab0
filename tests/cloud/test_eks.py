"""The EKS stack (dev), synthesized by cdktn: the system node group and Karpenter's AWS half for the GPU
pools, private encrypted buckets, scoped roles."""

from __future__ import annotations

import json

from modules.cloud.eks import bucket_access_policy, nat_zones, subnet_layout
from modules.cloud.karpenter import controller_policy
from modules.spec import load_spec
from modules.spec.karpenter import (
    DISCOVERY_TAG,
    NAMESPACE,
    SERVICE_ACCOUNT,
    interruption_queue_name,
    node_role_name,
)
from tests.cloud.conftest import resources


def test_gpu_pools_are_not_node_groups_and_karpenter_finds_the_private_subnets_and_cluster_sg(stacks):
    """A managed node group never leaves its desired size without an autoscaler: the GPU pools come from
    Karpenter, which launches into what carries its discovery tag."""
    spec = load_spec("dev")
    groups = resources(stacks["dev"], "aws_eks_node_group").values()
    assert [g["node_group_name"] for g in groups] == ["system"]
    tagged = [s for s in resources(stacks["dev"], "aws_subnet").values() if s["tags"].get(DISCOVERY_TAG)]
    assert sorted(s["availability_zone"] for s in tagged) == sorted(spec.cluster.zones)
    assert all(s["tags"][DISCOVERY_TAG] == spec.cluster_name and "internal-elb" in str(s["tags"]) for s in tagged)
    [sg_tag] = resources(stacks["dev"], "aws_ec2_tag").values()
    assert sg_tag["key"] == DISCOVERY_TAG and "cluster_security_group_id" in sg_tag["resource_id"]


def test_karpenter_nodes_join_and_its_controller_may_only_launch_and_end_this_clusters_nodes(stacks):
    spec = load_spec("dev")
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
    spec = load_spec("dev")
    [queue] = resources(stacks["dev"], "aws_sqs_queue").values()
    assert queue["name"] == interruption_queue_name(spec) and queue["sqs_managed_sse_enabled"] is True
    rules = resources(stacks["dev"], "aws_cloudwatch_event_rule").values()
    kinds = {json.loads(r["event_pattern"])["detail-type"][0] for r in rules}
    assert "EC2 Spot Instance Interruption Warning" in kinds and len(kinds) == 4
    assert len(resources(stacks["dev"], "aws_cloudwatch_event_target")) == 4
    [queue_policy_resource] = resources(stacks["dev"], "aws_sqs_queue_policy").values()
    statements = json.loads(queue_policy_resource["policy"])["Statement"]
    assert statements[0]["Principal"]["Service"] == ["events.amazonaws.com", "sqs.amazonaws.com"]


def test_cluster_is_private_encrypted_logged_and_on_the_bom_version(stacks):
    [cluster] = resources(stacks["dev"], "aws_eks_cluster").values()
    assert cluster["version"] == "1.35"  # binaries/kubernetes in the bill of materials
    assert cluster["vpc_config"]["endpoint_private_access"] is True
    assert cluster["vpc_config"]["public_access_cidrs"] == ["203.0.113.0/24"]
    assert cluster["encryption_config"]["resources"] == ["secrets"]
    assert set(cluster["enabled_cluster_log_types"]) >= {"api", "audit"}
    subnets = [s.split(".")[1].split("}")[0] for s in cluster["vpc_config"]["subnet_ids"]]
    assert all(name.startswith("private-") for name in subnets)


def test_every_bucket_is_private_versioned_kms_encrypted_tls_only_and_expires_old_versions(stacks):
    stack = stacks["dev"]
    names = {b["bucket"] for b in resources(stack, "aws_s3_bucket").values()}
    assert names == {f"acme-cnai-dev-{b}" for b in ("mlflow-artifacts", "models", "datasets", "milvus")}
    blocks = resources(stack, "aws_s3_bucket_public_access_block").values()
    assert len(blocks) == 4 and all(
        b[k] for b in blocks for k in ("block_public_acls", "block_public_policy", "ignore_public_acls")
    )
    for encryption in resources(stack, "aws_s3_bucket_server_side_encryption_configuration").values():
        assert encryption["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    assert all(
        v["versioning_configuration"]["status"] == "Enabled"
        for v in resources(stack, "aws_s3_bucket_versioning").values()
    )
    for policy in resources(stack, "aws_s3_bucket_policy").values():
        [deny] = json.loads(policy["policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(resources(stack, "aws_s3_bucket_lifecycle_configuration")) == 4


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


def test_ebs_csi_and_pod_identity_agent_are_installed(stacks):
    addons = {a["addon_name"] for a in resources(stacks["dev"], "aws_eks_addon").values()}
    assert {"aws-ebs-csi-driver", "eks-pod-identity-agent", "vpc-cni", "coredns", "kube-proxy"} <= addons


def test_the_vpc_cni_enforces_network_policies(stacks):
    """Without its network-policy agent the VPC CNI ignores every NetworkPolicy cnai declares."""
    cni = next(a for a in resources(stacks["dev"], "aws_eks_addon").values() if a["addon_name"] == "vpc-cni")
    assert json.loads(cni["configuration_values"]) == {"enableNetworkPolicy": "true"}


def test_network_layout_spreads_zones_and_saves_nat_where_unprotected():
    layout = subnet_layout(["a", "b", "c"])
    assert [row["private"] for row in layout] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert len({row["public"] for row in layout}) == 3
    assert nat_zones(load_spec("dev")) == ["us-east-1a"]


def test_read_only_policy_grants_no_write_and_no_data_key():
    policy = json.loads(bucket_access_policy(["arn:aws:s3:::b"], "arn:key", writes=False))
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt"}
