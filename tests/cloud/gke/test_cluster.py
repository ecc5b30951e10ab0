"""The GKE cluster (modules/cloud/gke/cluster.py), synthesized for prod."""

from __future__ import annotations

from tests.cloud.conftest import resources


def test_cluster_is_regional_vpc_native_private_with_workload_identity(stacks):
    [cluster] = resources(stacks["prod"], "google_container_cluster").values()
    assert cluster["location"] == "europe-west4" and cluster["networking_mode"] == "VPC_NATIVE"
    assert cluster["workload_identity_config"] == {"workload_pool": "acme-cnai-prod.svc.id.goog"}
    assert cluster["private_cluster_config"]["enable_private_nodes"] is True
    assert cluster["remove_default_node_pool"] is True and cluster["deletion_protection"] is True
    assert cluster["database_encryption"]["state"] == "ENCRYPTED"
