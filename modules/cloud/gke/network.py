"""The GKE network: a custom VPC with one VPC-native subnet (pod and service ranges), Cloud NAT for the
private nodes, and a deny-all ingress fallback."""

from __future__ import annotations

from typing import Any

from cdktn import TerraformStack
from cdktn_provider_google import (
    compute_firewall,
    compute_network,
    compute_router,
    compute_router_nat,
    compute_subnetwork,
)

from modules.cloud.stack import declare
from modules.spec import Spec

# One address plan, so that no two ranges overlap.
NODES_CIDR, PODS_CIDR, SERVICES_CIDR, CONTROL_PLANE_CIDR = "10.0.0.0/20", "10.4.0.0/14", "10.8.0.0/20", "172.16.0.0/28"
# The subnet's secondary ranges, named again by the cluster's IP allocation policy.
PODS_RANGE, SERVICES_RANGE = "pods", "services"


def subnetwork(spec: Spec) -> dict[str, Any]:
    return {
        "name": f"{spec.cluster_name}-nodes",
        "region": spec.cluster.region,
        "ip_cidr_range": NODES_CIDR,
        "private_ip_google_access": True,
        "secondary_ip_range": [
            {"range_name": PODS_RANGE, "ip_cidr_range": PODS_CIDR},
            {"range_name": SERVICES_RANGE, "ip_cidr_range": SERVICES_CIDR},
        ],
        "log_config": {
            "aggregation_interval": "INTERVAL_5_SEC",
            "flow_sampling": 0.5,
            "metadata": "INCLUDE_ALL_METADATA",
        },
    }


def declare_network(
    stack: TerraformStack, spec: Spec
) -> tuple[compute_network.ComputeNetwork, compute_subnetwork.ComputeSubnetwork]:
    """The VPC and the subnet the nodes (and, through its secondary ranges, pods and services) use."""
    network = declare(
        compute_network.ComputeNetwork,
        stack,
        "network",
        name=spec.cluster_name,
        auto_create_subnetworks=False,
        routing_mode="REGIONAL",
    )
    # Lowest priority: whatever GKE and the platform do not explicitly allow is refused.
    declare(
        compute_firewall.ComputeFirewall,
        stack,
        "deny-ingress",
        name=f"{spec.cluster_name}-deny-ingress",
        network=network.id,
        direction="INGRESS",
        priority=65534,
        deny=[{"protocol": "all"}],
        source_ranges=["0.0.0.0/0"],
    )
    nodes = declare(compute_subnetwork.ComputeSubnetwork, stack, "nodes-subnet", network=network.id, **subnetwork(spec))
    _nat(stack, spec, network)
    return network, nodes


def _nat(stack: TerraformStack, spec: Spec, network: compute_network.ComputeNetwork) -> None:
    """Private nodes reach the internet (registries, APIs) through Cloud NAT only."""
    placed = {"name": spec.cluster_name, "region": spec.cluster.region}
    router = declare(compute_router.ComputeRouter, stack, "router", network=network.id, **placed)
    declare(
        compute_router_nat.ComputeRouterNat,
        stack,
        "nat",
        router=router.name,
        **placed,
        nat_ip_allocate_option="AUTO_ONLY",
        source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
        log_config={"enable": True, "filter": "ERRORS_ONLY"},
    )
