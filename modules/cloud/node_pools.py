"""Node pools for both cloud clusters, derived from the spec's pools (pure builders, no cdktn).

They return the attributes of the Terraform resources (`aws_eks_node_group`,
`google_container_node_pool`) that modules/cloud/eks/node_pools.py and modules/cloud/gke/node_pools.py
declare, adding cluster, subnet and service account references; the sim and `cnai doctor` read them too.
On GKE every GPU pool is a node pool that autoscales from `min_nodes`; on EKS GPU pools are Karpenter
NodePools (modules/components/karpenter.py) and only the system group is a managed node group. The
driver choice follows modules/spec/gpu_functions.py.
"""

from __future__ import annotations

from typing import Any

from modules.spec import GpuPool, Spec
from modules.spec.gpu_functions import GKE, GKE_DEVICE_PLUGIN_OFF, GPU_OPERATOR, gpu_function_owners
from modules.versions import binary

SYSTEM_POOL = "system"
EKS_SYSTEM_INSTANCE = "m7i.xlarge"
GKE_SYSTEM_MACHINE = "e2-standard-4"
SYSTEM_LABELS = {"cnai.io/pool": SYSTEM_POOL}  # the same label on either cloud (and on kind's system worker)
TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE"}


def _taints(pool: GpuPool) -> list[dict[str, str]]:
    return [{"key": t["key"], "value": t["value"], "effect": TAINT_EFFECT[t["effect"]]} for t in pool.taints]


def eks_node_groups(spec: Spec) -> list[dict[str, Any]]:
    """The system group only: GPU pools are Karpenter NodePools (modules/components/karpenter.py), since a
    managed node group stays at its desired size without an autoscaler and no GPU node would appear."""
    return [
        {
            "node_group_name": SYSTEM_POOL,
            "instance_types": [EKS_SYSTEM_INSTANCE],
            "ami_type": "AL2023_x86_64_STANDARD",
            "capacity_type": "ON_DEMAND",
            "scaling_config": {"min_size": 2, "max_size": 4, "desired_size": 2},
            "labels": SYSTEM_LABELS,
        }
    ]


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
            "node_config": GKE_NODE_BASE | {"machine_type": GKE_SYSTEM_MACHINE, "labels": SYSTEM_LABELS},
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
