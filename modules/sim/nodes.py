"""Fake nodes shaped exactly like an environment's node groups (pure builders).

The groups come from the same builders the real clusters get: the cloud stacks' node pools
(modules/cloud/node_pools.py: GKE's pools, EKS's system group) and, for EKS GPU pools, the Karpenter
NodePools (modules/components/karpenter.py): name, instance type, labels and taints. Each group is emulated at
its autoscaling maximum (the sim has no autoscaler). A node's allocatable is its instance's vCPUs and memory minus the
kubelet reservation below; its GPU resource is what the GPU Operator's device plugin would advertise
for the pool's sharing (whole GPUs, time-slicing replicas, or MIG slices).

The kubelet reservation comes from modules/spec/instances.py (the fit checks use the same figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modules.cloud.node_pools import eks_node_groups, gke_node_pools
from modules.components.karpenter import karpenter_objects
from modules.sim.servers import KWOK_NODE_ANNOTATION
from modules.spec import Spec
from modules.spec.instances import INSTANCE_SHAPES, Shape, allocatable, max_pods
from modules.spec.models import GPU_RESOURCE

TAINT_EFFECT = {"NO_SCHEDULE": "NoSchedule", "NoSchedule": "NoSchedule"}


@dataclass(frozen=True)
class NodeGroup:
    """One emulated node group, as the cloud builder declares it."""

    env: str
    cloud: str
    name: str
    instance_type: str
    max_nodes: int
    labels: dict[str, str]
    taints: list[dict[str, str]]
    gpu_resource: str | None
    gpus: int  # schedulable GPU units per node (0: CPU-only group)

    @property
    def shape(self) -> Shape:
        if self.instance_type not in INSTANCE_SHAPES:
            raise ValueError(
                f"{self.env}: node group {self.name}: no vCPU/memory facts for instance type "
                f"{self.instance_type}; add it to modules.spec.instances.INSTANCE_SHAPES"
            )
        return INSTANCE_SHAPES[self.instance_type]

    def allocatable(self) -> dict[str, str]:
        left = allocatable(self.cloud, self.shape)
        out = {"cpu": f"{left.cpu_millis}m", "memory": f"{left.memory_mib}Mi", "pods": str(left.pods)}
        if self.gpu_resource:
            out[self.gpu_resource] = str(self.gpus)
        return out

    def capacity(self) -> dict[str, str]:
        shape = self.shape
        out = {
            "cpu": str(shape.vcpus),
            "memory": f"{shape.memory_gib}Gi",
            "pods": str(max_pods(self.cloud, shape.vcpus)),
        }
        if self.gpu_resource:
            out[self.gpu_resource] = str(self.gpus)
        return out


def gpu_resource(spec: Spec, pool_name: str) -> tuple[str, int]:
    """The device plugin's resource name and count per node for a pool's sharing mode."""
    pool = spec.pool(pool_name)
    units = pool.gpus_per_node * pool.slots_per_gpu
    if pool.sharing.mode == "mig" and spec.components.gpu_operator.mig_strategy == "mixed":
        return f"nvidia.com/mig-{pool.sharing.mig_profile}", units
    return GPU_RESOURCE, units


def karpenter_group(spec: Spec, node_pool: dict[str, Any]) -> NodeGroup:
    """A GPU pool as its NodePool declares it: instance type, labels, taints, and its GPU limit in nodes."""
    name, template = node_pool["metadata"]["name"], node_pool["spec"]["template"]
    [instance_type] = next(
        r["values"] for r in template["spec"]["requirements"] if r["key"] == "node.kubernetes.io/instance-type"
    )
    resource, count = gpu_resource(spec, name)
    max_nodes = int(node_pool["spec"]["limits"][GPU_RESOURCE]) // spec.pool(name).gpus_per_node
    taints = [dict(t) for t in template["spec"]["taints"]]
    return NodeGroup(
        spec.name, "eks", name, instance_type, max_nodes, dict(template["metadata"]["labels"]), taints, resource, count
    )


def node_groups(spec: Spec) -> list[NodeGroup]:
    """Every node group of an eks or gke environment, from the cloud stack's own builders."""
    target = spec.cluster.target
    gpu_pools = {p.name for p in spec.gpu_pools}
    groups = []
    if target == "eks":
        for g in eks_node_groups(spec):  # the system group; GPU pools are Karpenter NodePools
            groups.append(
                NodeGroup(
                    spec.name,
                    "eks",
                    g["node_group_name"],
                    g["instance_types"][0],
                    g["scaling_config"]["max_size"],
                    dict(g["labels"]),
                    [],
                    None,
                    0,
                )
            )
        groups += [karpenter_group(spec, pool) for pool in karpenter_objects(spec) if pool["kind"] == "NodePool"]
    elif target == "gke":
        for p in gke_node_pools(spec):
            name, config = p["name"], p["node_config"]
            resource, count = gpu_resource(spec, name) if name in gpu_pools else (None, 0)
            groups.append(
                NodeGroup(
                    spec.name,
                    "gke",
                    name,
                    config["machine_type"],
                    p["autoscaling"]["max_node_count"],
                    dict(config["labels"]),
                    [{**t, "effect": TAINT_EFFECT[t["effect"]]} for t in config.get("taint", [])],
                    resource,
                    count,
                )
            )
    else:
        raise ValueError(
            f"{spec.name}: the sim emulates eks and gke environments (their node shapes are known); "
            f"cluster.target is {target}"
        )
    return groups


def node_name(group: NodeGroup, index: int) -> str:
    return f"{group.env}-{group.name}-{index}"


def node(group: NodeGroup, index: int, zones: list[str]) -> dict[str, Any]:
    """A Node object kwok manages: labels and taints of its group, capacity/allocatable of its shape."""
    name = node_name(group, index)
    labels = {
        **group.labels,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": group.instance_type,
        "cnai.io/sim-emulates": group.env,
        "type": "kwok",
    }
    if zones:
        labels["topology.kubernetes.io/zone"] = zones[index % len(zones)]
    key, value = KWOK_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"taints": [dict(t) for t in group.taints]} if group.taints else {},
        "status": {"capacity": group.capacity(), "allocatable": group.allocatable()},
    }


def sim_nodes(spec: Spec, *, karpenter_scales: bool = False) -> list[dict[str, Any]]:
    """Every node of an emulated environment, each group at its maximum size; with `karpenter_scales`,
    none of the EKS GPU pools' (Karpenter launches those on demand, modules/sim/karpenter.py)."""
    groups = [g for g in node_groups(spec) if not (karpenter_scales and g.cloud == "eks" and g.gpu_resource)]
    return [node(g, i, spec.cluster.zones) for g in groups for i in range(g.max_nodes)]
