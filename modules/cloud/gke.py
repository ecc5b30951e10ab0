"""GKE: VPC-native private regional cluster with workload identity, system + GPU node pools, private
CMEK-encrypted GCS buckets, and one Google service account per workload, bound to its Kubernetes one.

Builders (module functions) compute everything from the spec; `GkeStack` only declares the resources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdktn import TerraformStack
from cdktn_provider_google import (
    compute_firewall,
    compute_network,
    compute_router,
    compute_router_nat,
    compute_subnetwork,
    container_cluster,
    container_node_pool,
    data_google_project,
    data_google_storage_project_service_account,
    kms_crypto_key,
    kms_crypto_key_iam_member,
    kms_key_ring,
    project_iam_member,
    service_account,
    service_account_iam_member,
    storage_bucket,
    storage_bucket_iam_member,
)
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from modules.cloud.identities import GSA_MAX, Workload, cloud_name, workloads
from modules.cloud.node_pools import GKE_NODE_BASE, gke_node_pools
from modules.cloud.stack import configure_backend, declare, export_outputs, noncurrent_version_days
from modules.spec import Spec
from modules.versions import binary

NODES_CIDR, PODS_CIDR, SERVICES_CIDR, CONTROL_PLANE_CIDR = "10.0.0.0/20", "10.4.0.0/14", "10.8.0.0/20", "172.16.0.0/28"
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
KEY_ROTATION = "7776000s"  # 90 days
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


def subnetwork(spec: Spec) -> dict[str, Any]:
    return {
        "name": f"{spec.cluster_name}-nodes",
        "region": spec.cluster.region,
        "ip_cidr_range": NODES_CIDR,
        "private_ip_google_access": True,
        "secondary_ip_range": [
            {"range_name": "pods", "ip_cidr_range": PODS_CIDR},
            {"range_name": "services", "ip_cidr_range": SERVICES_CIDR},
        ],
        "log_config": {
            "aggregation_interval": "INTERVAL_5_SEC",
            "flow_sampling": 0.5,
            "metadata": "INCLUDE_ALL_METADATA",
        },
    }


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
        "ip_allocation_policy": {"cluster_secondary_range_name": "pods", "services_secondary_range_name": "services"},
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


def bucket_settings(spec: Spec, logical: str) -> dict[str, Any]:
    return {
        "name": spec.bucket(logical),
        "location": (spec.cluster.region or "").upper(),
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "versioning": {"enabled": True},
        "force_destroy": False,
        "labels": {"cnai-environment": spec.name},
        "lifecycle_rule": [
            {
                "action": {"type": "Delete"},
                "condition": {"days_since_noncurrent_time": noncurrent_version_days(), "with_state": "ARCHIVED"},
            },
            {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 7}},
        ],
    }


def workload_identity_member(spec: Spec, workload: Workload) -> str:
    return f"serviceAccount:{spec.cluster.project}.svc.id.goog[{workload.namespace}/{workload.service_account}]"


class GkeStack(TerraformStack):
    """The prod-style cloud environment on Google Cloud (see module docstring)."""

    def __init__(self, scope: Construct, spec: Spec, *, outdir: Path, local_state_dir: Path | None = None) -> None:
        super().__init__(scope, spec.name)
        self.spec = spec
        configure_backend(self, spec, outdir, local_state_dir)
        declare(
            GoogleProvider,
            self,
            "google",
            project=spec.cluster.project,
            region=spec.cluster.region,
            default_labels={"cnai-environment": spec.name},
        )
        self.project = data_google_project.DataGoogleProject(self, "project")
        self.key = self._key()
        cluster = self._cluster()
        buckets = self._buckets()
        accounts = {w.name: self._workload_account(w, cluster, buckets) for w in workloads(spec)}
        export_outputs(
            self,
            cluster_name=cluster.name,
            cluster_endpoint=cluster.endpoint,
            cluster_ca=cluster.master_auth.cluster_ca_certificate,
            buckets={logical: b.name for logical, b in buckets.items()},
            workload_identities={name: account.email for name, account in accounts.items()},
        )

    def _key(self) -> kms_crypto_key.KmsCryptoKey:
        """One key for Kubernetes secrets and the buckets; GKE's and Cloud Storage's agents may use it."""
        ring = declare(
            kms_key_ring.KmsKeyRing, self, "keyring", name=self.spec.cluster_name, location=self.spec.cluster.region
        )
        key = declare(
            kms_crypto_key.KmsCryptoKey,
            self,
            "key",
            name="platform",
            key_ring=ring.id,
            rotation_period=KEY_ROTATION,
            lifecycle={"prevent_destroy": True},  # data encrypted with the key dies with it
        )
        storage_agent = data_google_storage_project_service_account.DataGoogleStorageProjectServiceAccount(
            self, "storage-agent"
        )
        gke_agent = f"serviceAccount:service-{self.project.number}@container-engine-robot.iam.gserviceaccount.com"
        for name, member in (("storage", f"serviceAccount:{storage_agent.email_address}"), ("gke", gke_agent)):
            declare(
                kms_crypto_key_iam_member.KmsCryptoKeyIamMember,
                self,
                f"key-{name}-agent",
                crypto_key_id=key.id,
                role=ENCRYPTER,
                member=member,
            )
        return key

    def _cluster(self) -> container_cluster.ContainerCluster:
        spec = self.spec
        network = declare(
            compute_network.ComputeNetwork,
            self,
            "network",
            name=spec.cluster_name,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
        )
        # Lowest priority: whatever GKE and the platform do not explicitly allow is refused.
        declare(
            compute_firewall.ComputeFirewall,
            self,
            "deny-ingress",
            name=f"{spec.cluster_name}-deny-ingress",
            network=network.id,
            direction="INGRESS",
            priority=65534,
            deny=[{"protocol": "all"}],
            source_ranges=["0.0.0.0/0"],
        )
        nodes = declare(
            compute_subnetwork.ComputeSubnetwork, self, "nodes-subnet", network=network.id, **subnetwork(spec)
        )
        router = declare(
            compute_router.ComputeRouter,
            self,
            "router",
            name=spec.cluster_name,
            network=network.id,
            region=spec.cluster.region,
        )
        declare(
            compute_router_nat.ComputeRouterNat,
            self,
            "nat",
            name=spec.cluster_name,
            router=router.name,
            region=spec.cluster.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
        )
        cluster = declare(
            container_cluster.ContainerCluster,
            self,
            "cluster",
            network=network.id,
            subnetwork=nodes.id,
            database_encryption={"state": "ENCRYPTED", "key_name": self.key.id},
            **cluster_settings(spec),
        )
        node_account = declare(
            service_account.ServiceAccount,
            self,
            "nodes",
            account_id=f"{spec.cluster_name}-nodes"[:GSA_MAX],
            display_name=f"cnai {spec.name} GKE nodes",
        )
        for role in NODE_ROLES:
            declare(
                project_iam_member.ProjectIamMember,
                self,
                f"nodes-{role.split('/')[1]}",
                project=spec.cluster.project,
                role=role,
                member=f"serviceAccount:{node_account.email}",
            )
        for pool in gke_node_pools(spec):
            node_config = pool["node_config"] | {"service_account": node_account.email}
            declare(
                container_node_pool.ContainerNodePool,
                self,
                f"pool-{pool['name']}",
                cluster=cluster.id,
                location=spec.cluster.region,
                **(pool | {"node_config": node_config}),
            )
        return cluster

    def _buckets(self) -> dict[str, storage_bucket.StorageBucket]:
        encryption = {"default_kms_key_name": self.key.id}
        return {
            logical: declare(
                storage_bucket.StorageBucket,
                self,
                f"bucket-{logical}",
                encryption=encryption,
                **bucket_settings(self.spec, logical),
            )
            for logical in self.spec.components.object_storage.buckets
        }

    def _workload_account(
        self,
        workload: Workload,
        cluster: container_cluster.ContainerCluster,
        buckets: dict[str, storage_bucket.StorageBucket],
    ) -> service_account.ServiceAccount:
        account = declare(
            service_account.ServiceAccount,
            self,
            f"identity-{workload.name}",
            account_id=cloud_name(self.spec, workload, GSA_MAX),
            display_name=f"cnai {workload.name}",
        )
        role = "roles/storage.objectAdmin" if workload.writes else "roles/storage.objectViewer"
        for logical in workload.buckets:
            declare(
                storage_bucket_iam_member.StorageBucketIamMember,
                self,
                f"identity-{workload.name}-{logical}",
                bucket=buckets[logical].name,
                role=role,
                member=f"serviceAccount:{account.email}",
            )
        # The workload pool exists once the cluster does.
        declare(
            service_account_iam_member.ServiceAccountIamMember,
            self,
            f"identity-{workload.name}-binding",
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=workload_identity_member(self.spec, workload),
            depends_on=[cluster],
        )
        return account
