"""GkeStack: the prod-style cloud environment on Google Cloud, composed of one module per concern
(see __init__)."""

from __future__ import annotations

from pathlib import Path

from cdktn import TerraformStack
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from modules.cloud.gke.buckets import declare_buckets
from modules.cloud.gke.cluster import declare_cluster, declare_key
from modules.cloud.gke.identities import declare_identities
from modules.cloud.gke.network import declare_network
from modules.cloud.gke.node_pools import declare_node_pools
from modules.cloud.stack import configure_backend, declare, export_outputs
from modules.spec import Spec


class GkeStack(TerraformStack):
    """Network, cluster, node pools, buckets and workload identities of one GKE environment."""

    def __init__(self, scope: Construct, spec: Spec, *, outdir: Path, local_state_dir: Path | None = None) -> None:
        super().__init__(scope, spec.name)
        configure_backend(self, spec, outdir, local_state_dir)
        labels = {"cnai-environment": spec.name}
        declare(
            GoogleProvider,
            self,
            "google",
            project=spec.cluster.project,
            region=spec.cluster.region,
            default_labels=labels,
        )
        key = declare_key(self, spec)
        network, nodes_subnet = declare_network(self, spec)
        cluster = declare_cluster(self, spec, network, nodes_subnet, key)
        declare_node_pools(self, spec, cluster)
        buckets = declare_buckets(self, spec, key)
        accounts = declare_identities(self, spec, cluster, buckets)
        export_outputs(
            self,
            cluster_name=cluster.name,
            cluster_endpoint=cluster.endpoint,
            cluster_ca=cluster.master_auth.cluster_ca_certificate,
            buckets={logical: b.name for logical, b in buckets.items()},
            workload_identities={name: account.email for name, account in accounts.items()},
        )
