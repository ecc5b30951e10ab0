"""GKE nodes: the system pool and one autoscaled pool per GPU pool, all running as one node service
account with only the roles nodes need. The pools' shape comes from modules/cloud/node_pools.py (shared
with EKS, the sim and `cnai doctor`)."""

from __future__ import annotations

from cdktn import TerraformStack
from cdktn_provider_google import container_cluster, container_node_pool, project_iam_member, service_account

from modules.cloud.node_pools import gke_node_pools
from modules.cloud.stack import declare
from modules.components.identities import GSA_MAX
from modules.spec import Spec

NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)


def declare_node_pools(stack: TerraformStack, spec: Spec, cluster: container_cluster.ContainerCluster) -> None:
    account = _node_account(stack, spec)
    for pool in gke_node_pools(spec):
        node_config = pool["node_config"] | {"service_account": account.email}
        declare(
            container_node_pool.ContainerNodePool,
            stack,
            f"pool-{pool['name']}",
            cluster=cluster.id,
            location=spec.cluster.region,
            **(pool | {"node_config": node_config}),
        )


def _node_account(stack: TerraformStack, spec: Spec) -> service_account.ServiceAccount:
    """Instead of the project's default compute account, which holds Editor on the whole project."""
    account = declare(
        service_account.ServiceAccount,
        stack,
        "nodes",
        account_id=f"{spec.cluster_name}-nodes"[:GSA_MAX],
        display_name=f"cnai {spec.name} GKE nodes",
    )
    for role in NODE_ROLES:
        declare(
            project_iam_member.ProjectIamMember,
            stack,
            f"nodes-{role.split('/')[1]}",
            project=spec.cluster.project,
            role=role,
            member=f"serviceAccount:{account.email}",
        )
    return account
