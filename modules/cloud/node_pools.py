"""GPU node pools for the cloud clusters, derived from the spec's pools (pure builders).

They return the attributes of the Terraform resources (`aws_eks_node_group`,
`google_container_node_pool`) the cdktn stacks declare; cluster and subnet references are added there.
The driver choice is consistent with the GPU Operator's: a node image with the driver when the
operator does not install one, a plain image when it does.
"""

from __future__ import annotations

from typing import Any

from modules.spec import GpuPool, Spec
from modules.spec.gpu_functions import GKE, GKE_DEVICE_PLUGIN_OFF, GPU_OPERATOR, NODE_IMAGE, gpu_function_owners
from modules.versions import binary

SYSTEM_POOL = "system"
EKS_SYSTEM_INSTANCE = "m7i.xlarge"
GKE_SYSTEM_MACHINE = "e2-standard-4"
TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE"}


def _taints(pool: GpuPool) -> list[dict[str, str]]:
    return [{"key": t["key"], "value": t["value"], "effect": TAINT_EFFECT[t["effect"]]} for t in pool.taints]


def eks_ami_type(spec: Spec) -> str:
    """AL2023 NVIDIA images carry the driver and the toolkit; where the operator installs them, the
    standard image (modules/spec/gpu_functions.py decides)."""
    owners = gpu_function_owners(spec)
    return "AL2023_x86_64_NVIDIA" if owners is None or owners.driver == NODE_IMAGE else "AL2023_x86_64_STANDARD"


def eks_node_groups(spec: Spec) -> list[dict[str, Any]]:
    groups = [
        {
            "node_group_name": SYSTEM_POOL,
            "instance_types": [EKS_SYSTEM_INSTANCE],
            "ami_type": "AL2023_x86_64_STANDARD",
            "capacity_type": "ON_DEMAND",
            "scaling_config": {"min_size": 2, "max_size": 4, "desired_size": 2},
            "labels": {"cnai.io/pool": SYSTEM_POOL},
        }
    ]
    for pool in spec.gpu_pools:
        groups.append(
            {
                "node_group_name": pool.name,
                "instance_types": [pool.facts.eks_instance_types[pool.gpus_per_node]],
                "ami_type": eks_ami_type(spec),
                "capacity_type": "SPOT" if pool.spot else "ON_DEMAND",
                "scaling_config": {
                    "min_size": pool.min_nodes,
                    "max_size": pool.max_nodes,
                    "desired_size": pool.min_nodes,
                },
                "labels": pool.node_labels,
                "taint": _taints(pool),
            }
        )
    return groups


def gke_driver_version(spec: Spec) -> str:
    """GKE's driver installer at the BOM's choice (DEFAULT: the driver of the pinned GKE minor, not
    LATEST, which floats) where it owns the driver (modules/spec/gpu_functions.py)."""
    owners = gpu_function_owners(spec)
    return binary("gke-gpu-driver") if owners is None or owners.driver == GKE else "INSTALLATION_DISABLED"


# Every GKE node: Container-Optimized OS, shielded boot, the metadata server workload identity needs,
# and access decided by IAM roles rather than legacy scopes.
GKE_NODE_BASE: dict[str, Any] = {
    "image_type": "COS_CONTAINERD",
    "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
    "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
    "workload_metadata_config": {"mode": "GKE_METADATA"},
    "metadata": {"disable-legacy-endpoints": "true"},
}
GKE_MANAGEMENT = {"auto_repair": True, "auto_upgrade": True}


def gke_node_pools(spec: Spec) -> list[dict[str, Any]]:
    pools = [
        {
            "name": SYSTEM_POOL,
            "autoscaling": {"min_node_count": 1, "max_node_count": 3},
            "management": GKE_MANAGEMENT,
            "node_config": GKE_NODE_BASE
            | {"machine_type": GKE_SYSTEM_MACHINE, "labels": {"cnai.io/pool": SYSTEM_POOL}},
        }
    ]
    owners = gpu_function_owners(spec)
    for pool in spec.gpu_pools:
        accelerator: dict[str, Any] = {
            "type": pool.facts.gke_accelerator,
            "count": pool.gpus_per_node,
            "gpu_driver_installation_config": {"gpu_driver_version": gke_driver_version(spec)},
        }
        if pool.sharing.mode == "mig" and (owners is None or owners.mig_manager == GKE):
            accelerator["gpu_partition_size"] = pool.sharing.mig_profile  # else the operator's MIG manager
        pools.append(
            {
                "name": pool.name,
                "autoscaling": {"min_node_count": pool.min_nodes, "max_node_count": pool.max_nodes},
                "management": GKE_MANAGEMENT,
                "node_config": GKE_NODE_BASE
                | {
                    "machine_type": pool.facts.gke_machine_types[pool.gpus_per_node],
                    "spot": pool.spot,
                    "guest_accelerator": [accelerator],
                    # GKE runs its own device plugin unless told not to: one plugin per node.
                    "labels": pool.node_labels
                    | (GKE_DEVICE_PLUGIN_OFF if owners and owners.device_plugin == GPU_OPERATOR else {}),
                    "taint": _taints(pool),
                },
            }
        )
    return pools
