"""EKS GPU pools autoscaled for real in the sim: Karpenter with its kwok cloud provider (pure builders).

The sim then creates no node of an EKS GPU pool. Karpenter's own provisioning logic reads the pool's
NodePool (the one cnai deploys, modules/components/karpenter.py, with its node class reference pointed at
the provider's KWOKNodeClass instead of an EC2NodeClass), sees a pending pod that needs the pool,
launches a NodeClaim of the pool's instance type, and the provider registers a Node the sim's kwok
then runs; empty nodes go after the NodePool's consolidation delay. What stands in for AWS is the
instance catalogue: each pool's instance type with the CPU, memory and pods the sim gives its emulated
nodes (the same reservation formulas, modules/spec/instances.py) and its physical GPUs, as AWS's
provider knows the instance (it knows nothing of time-slicing replicas or MIG slices, which the device
plugin advertises once it runs: so the NodePool's GPU limit counts physical GPUs here as there),
offered in the cluster's zones at the pool's capacity type.
"""

from __future__ import annotations

import copy
from typing import Any

from modules.components.karpenter import CAPACITY_TYPE, karpenter_objects
from modules.sim.nodes import karpenter_group
from modules.spec import Spec
from modules.spec.models import GPU_RESOURCE

KWOK_NODE_CLASS_GROUP = "karpenter.kwok.sh"
KWOK_NODE_CLASS_API = f"{KWOK_NODE_CLASS_GROUP}/v1alpha1"
INSTANCE_RESOURCES = ("cpu", "memory", "pods")
PRICE = 1.0  # one offering per pool: Karpenter picks among offerings by price, here there is no choice


def node_pools(spec: Spec) -> list[dict[str, Any]]:
    """The NodePools cnai deploys on EKS, each launching through a KWOKNodeClass of the same name."""
    pools = []
    for obj in karpenter_objects(spec):
        if obj["kind"] == "NodePool":
            pool = copy.deepcopy(obj)
            reference = pool["spec"]["template"]["spec"]["nodeClassRef"]
            reference |= {"group": KWOK_NODE_CLASS_GROUP, "kind": "KWOKNodeClass"}
            pools.append(pool)
    return pools


def node_classes(spec: Spec) -> list[dict[str, Any]]:
    return [
        {"apiVersion": KWOK_NODE_CLASS_API, "kind": "KWOKNodeClass", "metadata": {"name": p["metadata"]["name"]}}
        for p in node_pools(spec)
    ]


def instance_types(spec: Spec) -> list[dict[str, Any]]:
    """The kwok provider's catalogue (its INSTANCE_TYPES_FILE_PATH format): one entry per pool."""
    catalogue = []
    for obj in node_pools(spec):
        group = karpenter_group(spec, obj)
        requirements = {r["key"]: r["values"] for r in obj["spec"]["template"]["spec"]["requirements"]}
        offerings = [
            {
                "Price": PRICE,
                "Available": True,
                "Requirements": [
                    {"key": CAPACITY_TYPE, "operator": "In", "values": [capacity]},
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]},
                ],
            }
            for zone in requirements["topology.kubernetes.io/zone"]
            for capacity in requirements[CAPACITY_TYPE]
        ]
        catalogue.append(
            {
                "name": group.instance_type,
                "offerings": offerings,
                "architecture": "amd64",
                "operatingSystems": ["linux"],
                "resources": {k: v for k, v in group.allocatable().items() if k in INSTANCE_RESOURCES}
                | {GPU_RESOURCE: str(spec.pool(group.name).gpus_per_node)},
            }
        )
    return catalogue
