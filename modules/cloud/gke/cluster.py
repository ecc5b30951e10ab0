"""The GKE control plane (regional, private nodes, workload identity, Dataplane V2) and the Cloud KMS key
that encrypts its secrets and the buckets."""

from __future__ import annotations

from typing import Any

from cdktn import TerraformStack
from cdktn_provider_google import (
    compute_network,
    compute_subnetwork,
    container_cluster,
    data_google_project,
    data_google_storage_project_service_account,
    kms_crypto_key,
    kms_crypto_key_iam_member,
    kms_key_ring,
)

from modules.cloud.gke.network import CONTROL_PLANE_CIDR, PODS_RANGE, SERVICES_RANGE
from modules.cloud.node_pools import GKE_NODE_BASE
from modules.cloud.stack import declare
from modules.spec import Spec
from modules.versions import binary

KEY_ROTATION = "7776000s"  # 90 days
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


def cluster_settings(spec: Spec) -> dict[str, Any]:
    """Private nodes; the endpoint is public only for cluster.api_access_cidrs; Dataplane V2 enforces
    NetworkPolicies; the default pool is replaced by the spec's pools."""
    cidrs = list(spec.cluster.api_access_cidrs)
    return {
        "name": spec.cluster_name,
        "location": spec.cluster.region,
        "node_locations": list(spec.cluster.zones),
        "min_master_version": binary("kubernetes"),
        "release_channel": {"channel": "REGULAR"},
        "remove_default_node_pool": True,
        "initial_node_count": 1,
        "networking_mode": "VPC_NATIVE",
        "ip_allocation_policy": {
            "cluster_secondary_range_name": PODS_RANGE,
            "services_secondary_range_name": SERVICES_RANGE,
        },
        "workload_identity_config": {"workload_pool": f"{spec.cluster.project}.svc.id.goog"},
        "private_cluster_config": {
            "enable_private_nodes": True,
            "enable_private_endpoint": not cidrs,
            "master_ipv4_cidr_block": CONTROL_PLANE_CIDR,
        },
        "master_authorized_networks_config": {
            "cidr_blocks": [{"cidr_block": c, "display_name": f"api-access-{i}"} for i, c in enumerate(cidrs)]
        },
        # Dataplane V2 enforces NetworkPolicies itself (the network_policy add-on must stay off).
        "datapath_provider": "ADVANCED_DATAPATH",
        # The project's default policy admits every image; enforcing it lets admins tighten it in one place.
        "binary_authorization": {"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
        # The short-lived default pool is hardened like the spec's pools.
        "node_config": GKE_NODE_BASE,
        "enable_intranode_visibility": True,
        "enable_shielded_nodes": True,
        "enable_legacy_abac": False,
        "master_auth": {"client_certificate_config": {"issue_client_certificate": False}},
        "deletion_protection": spec.cluster.protect,
        "resource_labels": {"cnai-environment": spec.name},
    }


def declare_key(stack: TerraformStack, spec: Spec) -> kms_crypto_key.KmsCryptoKey:
    """One key for Kubernetes secrets and the buckets; GKE's and Cloud Storage's agents may use it."""
    ring = declare(kms_key_ring.KmsKeyRing, stack, "keyring", name=spec.cluster_name, location=spec.cluster.region)
    key = declare(
        kms_crypto_key.KmsCryptoKey,
        stack,
        "key",
        name="platform",
        key_ring=ring.id,
        rotation_period=KEY_ROTATION,
        lifecycle={"prevent_destroy": True},  # data encrypted with the key dies with it
    )
    for name, member in _service_agents(stack).items():
        declare(
            kms_crypto_key_iam_member.KmsCryptoKeyIamMember,
            stack,
            f"key-{name}-agent",
            crypto_key_id=key.id,
            role=ENCRYPTER,
            member=member,
        )
    return key


def _service_agents(stack: TerraformStack) -> dict[str, str]:
    """The Google-managed accounts that encrypt for Cloud Storage and GKE, by short name."""
    project = data_google_project.DataGoogleProject(stack, "project")
    storage = data_google_storage_project_service_account.DataGoogleStorageProjectServiceAccount(stack, "storage-agent")
    return {
        "storage": f"serviceAccount:{storage.email_address}",
        "gke": f"serviceAccount:service-{project.number}@container-engine-robot.iam.gserviceaccount.com",
    }


def declare_cluster(
    stack: TerraformStack,
    spec: Spec,
    network: compute_network.ComputeNetwork,
    nodes_subnet: compute_subnetwork.ComputeSubnetwork,
    key: kms_crypto_key.KmsCryptoKey,
) -> container_cluster.ContainerCluster:
    return declare(
        container_cluster.ContainerCluster,
        stack,
        "cluster",
        network=network.id,
        subnetwork=nodes_subnet.id,
        database_encryption={"state": "ENCRYPTED", "key_name": key.id},
        **cluster_settings(spec),
    )
