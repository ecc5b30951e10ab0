"""EKS: VPC, cluster, the system node group, Karpenter's AWS half for the GPU pools, private S3 buckets
and Pod Identity roles scoped to them.

Builders (module functions) compute everything from the spec; `EksStack` only declares the resources.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from cdktn import TerraformStack
from cdktn_provider_aws import (
    cloudwatch_log_group,
    data_aws_caller_identity,
    default_security_group,
    ec2_tag,
    eip,
    eks_addon,
    eks_cluster,
    eks_node_group,
    eks_pod_identity_association,
    flow_log,
    iam_role,
    iam_role_policy,
    iam_role_policy_attachment,
    internet_gateway,
    kms_key,
    nat_gateway,
    route_table,
    route_table_association,
    s3_bucket,
    s3_bucket_lifecycle_configuration,
    s3_bucket_ownership_controls,
    s3_bucket_policy,
    s3_bucket_public_access_block,
    s3_bucket_server_side_encryption_configuration,
    s3_bucket_versioning,
    subnet,
    vpc,
)
from cdktn_provider_aws.provider import AwsProvider
from constructs import Construct

from modules.cloud.aws_policies import (
    AWS_MANAGED,
    NODE_POLICIES,
    assume_role_policy,
    pod_identity_role,
    policy_document,
)
from modules.cloud.identities import IAM_ROLE_MAX, Workload, cloud_name, workloads
from modules.cloud.karpenter import KarpenterAws
from modules.cloud.node_pools import eks_node_groups
from modules.cloud.stack import configure_backend, declare, export_outputs, noncurrent_version_days
from modules.spec import Spec
from modules.spec.karpenter import DISCOVERY_TAG, uses_karpenter
from modules.versions import binary

VPC_CIDR = "10.0.0.0/16"
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# Managed add-ons whose versions EKS matches to the control plane's (pinned through binaries/kubernetes).
ADDONS = ("vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent")
# The VPC CNI enforces NetworkPolicies only when asked (its network-policy agent); without this every
# NetworkPolicy cnai declares would be accepted by the API server and enforced by nothing.
ADDON_CONFIGURATION = {"vpc-cni": {"enableNetworkPolicy": "true"}}
EBS_CSI = {"addon": "aws-ebs-csi-driver", "namespace": "kube-system", "service_account": "ebs-csi-controller-sa"}
CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
LOG_RETENTION_DAYS = 365


def subnet_layout(zones: list[str]) -> list[dict[str, Any]]:
    """A private /19 (nodes, pods) and a public /22 (load balancers, NAT) per zone."""
    network = ipaddress.ip_network(VPC_CIDR)
    private = list(network.subnets(new_prefix=19))
    public = list(private[-1].subnets(new_prefix=22))
    return [{"zone": zone, "private": str(private[i]), "public": str(public[i])} for i, zone in enumerate(zones)]


def nat_zones(spec: Spec) -> list[str]:
    """One NAT gateway per zone where the environment is protected (zone failure), one otherwise (cost)."""
    return list(spec.cluster.zones) if spec.cluster.protect else list(spec.cluster.zones[:1])


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


def tls_only_bucket_policy(bucket_arn: str) -> str:
    deny = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return policy_document([deny])


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


def bucket_lifecycle(bucket: str) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "rule": [
            {
                "id": "expire-old-versions-and-uploads",
                "status": "Enabled",
                "filter": [{"prefix": ""}],
                "noncurrent_version_expiration": [{"noncurrent_days": noncurrent_version_days()}],
                "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}],
            }
        ],
    }


class EksStack(TerraformStack):
    """The dev-style cloud environment on AWS (see module docstring)."""

    def __init__(self, scope: Construct, spec: Spec, *, outdir: Path, local_state_dir: Path | None = None) -> None:
        super().__init__(scope, spec.name)
        self.spec = spec
        region = spec.cluster.region or ""
        configure_backend(self, spec, outdir, local_state_dir)
        declare(AwsProvider, self, "aws", region=region, default_tags=[{"tags": {"cnai:environment": spec.name}}])
        account = declare(data_aws_caller_identity.DataAwsCallerIdentity, self, "account")
        self.account_id = account.account_id
        self.key = declare(
            kms_key.KmsKey,
            self,
            "key",
            description=f"cnai {spec.name}: Kubernetes secrets, buckets, logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(account.account_id, region),
        )
        private_subnets = self._network()
        cluster = self._cluster(private_subnets)
        buckets = self._buckets()
        roles = {w.name: self._workload_role(w, cluster, buckets) for w in workloads(spec)}
        export_outputs(
            self,
            cluster_name=cluster.name,
            cluster_endpoint=cluster.endpoint,
            cluster_ca=cluster.certificate_authority.get(0).data,
            buckets={logical: b.bucket for logical, b in buckets.items()},
            workload_identities={name: role.arn for name, role in roles.items()},
        )

    def _network(self) -> list[subnet.Subnet]:
        spec = self.spec
        network = declare(
            vpc.Vpc,
            self,
            "vpc",
            cidr_block=VPC_CIDR,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": spec.cluster_name},
        )
        # No rules: nothing may use the default security group.
        declare(default_security_group.DefaultSecurityGroup, self, "vpc-default-sg", vpc_id=network.id)
        self._flow_logs(network)
        gateway = declare(internet_gateway.InternetGateway, self, "igw", vpc_id=network.id)
        public_routes = declare(
            route_table.RouteTable,
            self,
            "public-routes",
            vpc_id=network.id,
            route=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
        )
        tag = f"kubernetes.io/cluster/{spec.cluster_name}"
        # Karpenter launches GPU nodes into the subnets carrying its discovery tag.
        discovery = {DISCOVERY_TAG: spec.cluster_name} if uses_karpenter(spec) else {}
        private, nats = [], {}
        for layout in subnet_layout(list(spec.cluster.zones)):
            zone = layout["zone"]
            public = declare(
                subnet.Subnet,
                self,
                f"public-{zone}",
                vpc_id=network.id,
                cidr_block=layout["public"],
                availability_zone=zone,
                tags={tag: "shared", "kubernetes.io/role/elb": "1"},
            )
            declare(
                route_table_association.RouteTableAssociation,
                self,
                f"public-{zone}-routes",
                subnet_id=public.id,
                route_table_id=public_routes.id,
            )
            if zone in nat_zones(spec):
                address = declare(eip.Eip, self, f"nat-{zone}-ip", domain="vpc")
                nats[zone] = declare(
                    nat_gateway.NatGateway, self, f"nat-{zone}", allocation_id=address.id, subnet_id=public.id
                )
            private.append(
                declare(
                    subnet.Subnet,
                    self,
                    f"private-{zone}",
                    vpc_id=network.id,
                    cidr_block=layout["private"],
                    availability_zone=zone,
                    tags={tag: "shared", "kubernetes.io/role/internal-elb": "1"} | discovery,
                )
            )
        for zone, private_subnet in zip(spec.cluster.zones, private, strict=True):
            nat = nats.get(zone) or next(iter(nats.values()))
            routes = declare(
                route_table.RouteTable,
                self,
                f"private-{zone}-routes",
                vpc_id=network.id,
                route=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
            )
            declare(
                route_table_association.RouteTableAssociation,
                self,
                f"private-{zone}-assoc",
                subnet_id=private_subnet.id,
                route_table_id=routes.id,
            )
        return private

    def _flow_logs(self, network: vpc.Vpc) -> None:
        group = declare(
            cloudwatch_log_group.CloudwatchLogGroup,
            self,
            "flow-logs",
            name=f"/cnai/{self.spec.name}/vpc-flow-logs",
            retention_in_days=LOG_RETENTION_DAYS,
            kms_key_id=self.key.arn,
        )
        role = self._service_role("flow-logs", "vpc-flow-logs.amazonaws.com", [])
        writes_logs = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        statement = {"Effect": "Allow", "Action": writes_logs, "Resource": f"{group.arn}:*"}
        declare(
            iam_role_policy.IamRolePolicy,
            self,
            "flow-logs-policy",
            role=role.id,
            policy=policy_document([statement]),
        )
        declare(
            flow_log.FlowLog,
            self,
            "vpc-flow-log",
            vpc_id=network.id,
            traffic_type="ALL",
            log_destination=group.arn,
            iam_role_arn=role.arn,
        )

    def _service_role(self, name: str, service: str, managed: tuple[str, ...] | list[str]) -> iam_role.IamRole:
        role = declare(
            iam_role.IamRole,
            self,
            f"{name}-role",
            name=f"{self.spec.cluster_name}-{name}",
            assume_role_policy=assume_role_policy(service),
        )
        for policy in managed:
            declare(
                iam_role_policy_attachment.IamRolePolicyAttachment,
                self,
                f"{name}-{policy}",
                role=role.name,
                policy_arn=f"{AWS_MANAGED}/{policy}",
            )
        return role

    def _cluster(self, private_subnets: list[subnet.Subnet]) -> eks_cluster.EksCluster:
        spec = self.spec
        cidrs = list(spec.cluster.api_access_cidrs)
        cluster = declare(
            eks_cluster.EksCluster,
            self,
            "cluster",
            name=spec.cluster_name,
            version=binary("kubernetes"),
            role_arn=self._service_role("cluster", "eks.amazonaws.com", CLUSTER_POLICIES).arn,
            vpc_config={
                "subnet_ids": [s.id for s in private_subnets],
                "endpoint_private_access": True,
                "endpoint_public_access": bool(cidrs),
                **({"public_access_cidrs": cidrs} if cidrs else {}),
            },
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": self.key.arn}},
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            deletion_protection=spec.cluster.protect,
        )
        node_role = self._service_role("nodes", "ec2.amazonaws.com", NODE_POLICIES)
        for group in eks_node_groups(spec):
            declare(
                eks_node_group.EksNodeGroup,
                self,
                f"pool-{group['node_group_name']}",
                cluster_name=cluster.name,
                node_role_arn=node_role.arn,
                subnet_ids=[s.id for s in private_subnets],
                **group,
            )
        for addon in ADDONS:
            settings = {"configuration_values": json.dumps(c)} if (c := ADDON_CONFIGURATION.get(addon)) else {}
            declare(eks_addon.EksAddon, self, f"addon-{addon}", cluster_name=cluster.name, addon_name=addon, **settings)
        self._ebs_csi(cluster)
        if uses_karpenter(spec):
            # The nodes Karpenter launches join through the cluster security group, found by this tag.
            declare(
                ec2_tag.Ec2Tag,
                self,
                "cluster-sg-discovery",
                resource_id=cluster.vpc_config.cluster_security_group_id,
                key=DISCOVERY_TAG,
                value=spec.cluster_name,
            )
            KarpenterAws(self, spec, cluster=cluster, region=spec.cluster.region or "", account=self.account_id)
        return cluster

    def _ebs_csi(self, cluster: eks_cluster.EksCluster) -> None:
        role = pod_identity_role(self, "ebs-csi-role", f"{self.spec.cluster_name}-ebs-csi")
        declare(
            iam_role_policy_attachment.IamRolePolicyAttachment,
            self,
            "ebs-csi-policy",
            role=role.name,
            policy_arn=f"{AWS_MANAGED}/service-role/AmazonEBSCSIDriverPolicy",
        )
        declare(
            eks_addon.EksAddon,
            self,
            "addon-aws-ebs-csi-driver",
            cluster_name=cluster.name,
            addon_name=EBS_CSI["addon"],
            pod_identity_association=[{"role_arn": role.arn, "service_account": EBS_CSI["service_account"]}],
        )

    def _buckets(self) -> dict[str, s3_bucket.S3Bucket]:
        spec, made = self.spec, {}
        for logical in spec.components.object_storage.buckets:
            bucket = declare(
                s3_bucket.S3Bucket, self, f"bucket-{logical}", bucket=spec.bucket(logical), force_destroy=False
            )
            declare(
                s3_bucket_public_access_block.S3BucketPublicAccessBlock,
                self,
                f"bucket-{logical}-no-public",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            )
            declare(
                s3_bucket_ownership_controls.S3BucketOwnershipControls,
                self,
                f"bucket-{logical}-owner",
                bucket=bucket.id,
                rule={"object_ownership": "BucketOwnerEnforced"},
            )
            declare(
                s3_bucket_versioning.S3BucketVersioningA,
                self,
                f"bucket-{logical}-versioning",
                bucket=bucket.id,
                versioning_configuration={"status": "Enabled"},
            )
            sse = {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": self.key.arn,
                }
            }
            declare(
                s3_bucket_server_side_encryption_configuration.S3BucketServerSideEncryptionConfigurationA,
                self,
                f"bucket-{logical}-encryption",
                bucket=bucket.id,
                rule=[sse | {"bucket_key_enabled": True}],
            )
            declare(
                s3_bucket_lifecycle_configuration.S3BucketLifecycleConfiguration,
                self,
                f"bucket-{logical}-lifecycle",
                **bucket_lifecycle(bucket.id),
            )
            declare(
                s3_bucket_policy.S3BucketPolicy,
                self,
                f"bucket-{logical}-tls-only",
                bucket=bucket.id,
                policy=tls_only_bucket_policy(bucket.arn),
            )
            made[logical] = bucket
        return made

    def _workload_role(
        self, workload: Workload, cluster: eks_cluster.EksCluster, buckets: dict[str, s3_bucket.S3Bucket]
    ) -> iam_role.IamRole:
        role = pod_identity_role(self, f"identity-{workload.name}", cloud_name(self.spec, workload, IAM_ROLE_MAX))
        policy = bucket_access_policy([buckets[b].arn for b in workload.buckets], self.key.arn, workload.writes)
        declare(iam_role_policy.IamRolePolicy, self, f"identity-{workload.name}-buckets", role=role.id, policy=policy)
        declare(
            eks_pod_identity_association.EksPodIdentityAssociation,
            self,
            f"identity-{workload.name}-association",
            cluster_name=cluster.name,
            namespace=workload.namespace,
            service_account=workload.service_account,
            role_arn=role.arn,
        )
        return role
