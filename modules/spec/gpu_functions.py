"""Who installs each GPU function on a node, decided once per environment from its target and driver
choice. Two owners of one function break nodes in ways no single manifest shows: two device plugins
advertise nvidia.com/gpu twice, two MIG managers repartition under each other, a container driver over
a host driver fails to load. The cloud node pools (modules/cloud/node_pools.py), the GPU Operator's
values (modules/components/gpu_operator.py) and the docs read this table; nothing else decides.

| target | driver | toolkit | device plugin | MIG manager |
|---|---|---|---|---|
| eks, driver preinstalled | node image (AL2023 NVIDIA AMI) | node image | GPU Operator | GPU Operator |
| eks, driver operator | GPU Operator (standard AMI) | GPU Operator | GPU Operator | GPU Operator |
| gke (preinstalled only) | GKE's installer (COS) | GPU Operator | GPU Operator (GKE's off) | GPU Operator |
| existing / bare metal | modules/nodes or GPU Operator | modules/nodes or GPU Operator | GPU Operator | GPU Operator |

On GKE NVIDIA documents the operator with Google's driver installer ("Google Driver Installer",
COS): GKE installs the driver, the operator the rest, with GKE's own device plugin switched off by the
node label `gke-no-default-nvidia-gpu-device-plugin=true` and no GKE MIG partitioning. The operator's
own driver needs Ubuntu nodes on GKE, which cnai does not build: a spec check refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from modules.spec.models import Spec

GPU_OPERATOR = "gpu-operator"
NODE_IMAGE = "node-image"  # the EKS AL2023 NVIDIA AMI ships the driver and the container toolkit
GKE = "gke"  # GKE's driver installer
NODES = "modules/nodes"  # the Ansible roles of bare-metal hosts
GKE_DEVICE_PLUGIN_OFF = {"gke-no-default-nvidia-gpu-device-plugin": "true"}


@dataclass(frozen=True)
class GpuFunctionOwners:
    driver: str
    toolkit: str
    device_plugin: str
    mig_manager: str | None  # None: no pool is partitioned


def gpu_function_owners(spec: Spec) -> GpuFunctionOwners | None:
    """The one owner of each GPU function on the environment's GPU nodes; None without GPU pools or
    without the GPU Operator (kind: its pools only give Kueue quota shapes, no GPU is there)."""
    if not spec.gpu_pools or not spec.components.gpu_operator.enabled:
        return None
    operator = spec.components.gpu_operator
    preinstalled = operator.driver == "preinstalled"
    mig = GPU_OPERATOR if any(p.sharing.mode == "mig" for p in spec.gpu_pools) else None
    target = spec.cluster.target
    if target == "eks":
        image = NODE_IMAGE if preinstalled else GPU_OPERATOR
        return GpuFunctionOwners(image, image, GPU_OPERATOR, mig)
    if target == "gke":
        return GpuFunctionOwners(GKE, GPU_OPERATOR, GPU_OPERATOR, mig)
    toolkit = NODES if operator.toolkit == "preinstalled" else GPU_OPERATOR
    return GpuFunctionOwners(NODES if preinstalled else GPU_OPERATOR, toolkit, GPU_OPERATOR, mig)
