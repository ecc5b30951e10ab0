"""EksStack: the dev-style cloud environment on AWS, composed of one module per concern (see __init__)."""

from __future__ import annotations

from pathlib import Path

from cdktn import TerraformStack
from cdktn_provider_aws import data_aws_caller_identity
from cdktn_provider_aws.provider import AwsProvider
from constructs import Construct

from modules.cloud.eks.buckets import declare_buckets
from modules.cloud.eks.cluster import declare_cluster, declare_key
from modules.cloud.eks.identities import declare_identities
from modules.cloud.eks.network import declare_network
from modules.cloud.eks.node_pools import declare_node_pools
from modules.cloud.stack import configure_backend, declare, export_outputs
from modules.spec import Spec


class EksStack(TerraformStack):
    """VPC, cluster, nodes, buckets and workload identities of one EKS environment."""

    def __init__(self, scope: Construct, spec: Spec, *, outdir: Path, local_state_dir: Path | None = None) -> None:
        super().__init__(scope, spec.name)
        configure_backend(self, spec, outdir, local_state_dir)
        tags = [{"tags": {"cnai:environment": spec.name}}]
        declare(AwsProvider, self, "aws", region=spec.cluster.region or "", default_tags=tags)
        account_id = declare(data_aws_caller_identity.DataAwsCallerIdentity, self, "account").account_id
        key = declare_key(self, spec, account_id)
        private_subnets = declare_network(self, spec, key)
        cluster = declare_cluster(self, spec, key, private_subnets)
        declare_node_pools(self, spec, cluster, private_subnets, account_id)
        buckets = declare_buckets(self, spec, key)
        roles = declare_identities(self, spec, key, cluster, buckets)
        export_outputs(
            self,
            cluster_name=cluster.name,
            cluster_endpoint=cluster.endpoint,
            cluster_ca=cluster.certificate_authority.get(0).data,
            buckets={logical: b.bucket for logical, b in buckets.items()},
            workload_identities={name: role.arn for name, role in roles.items()},
        )
