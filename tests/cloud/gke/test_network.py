"""The GKE network (modules/cloud/gke/network.py), synthesized for prod."""

from __future__ import annotations

from tests.cloud.conftest import resources


def test_the_cluster_allocates_pods_and_services_from_the_subnets_secondary_ranges(stacks):
    stack = stacks["prod"]
    [subnet] = resources(stack, "google_compute_subnetwork").values()
    [cluster] = resources(stack, "google_container_cluster").values()
    ranges = {r["range_name"] for r in subnet["secondary_ip_range"]}
    policy = cluster["ip_allocation_policy"]
    assert {policy["cluster_secondary_range_name"], policy["services_secondary_range_name"]} == ranges
    assert subnet["private_ip_google_access"] is True and subnet["log_config"]


def test_ingress_nothing_allows_is_denied_and_private_nodes_leave_through_cloud_nat(stacks):
    stack = stacks["prod"]
    [firewall] = resources(stack, "google_compute_firewall").values()
    assert firewall["direction"] == "INGRESS" and firewall["deny"] == [{"protocol": "all"}]
    assert firewall["priority"] == 65534  # below every rule GKE or the platform adds
    [nat] = resources(stack, "google_compute_router_nat").values()
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
