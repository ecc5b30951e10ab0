"""Instance types as facts: vCPUs and memory, declared once (the sim's nodes and fit checks read them),
and what a node of one leaves to pods.

Kubelet reservation (documented provider formulas, so allocatable matches what the cloud reports):
- CPU (EKS and GKE alike): 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above 4.
- memory, EKS (AL2023 bootstrap): 255 MiB + 11 MiB per pod, max pods 110 (<= 30 vCPUs) else 250.
- memory, GKE: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112,
  2% above 128 GiB.
- both: the kubelet's hard eviction threshold, memory.available < 100 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    vcpus: int
    memory_gib: int


# vCPUs and memory of every instance type the accelerator registry (accelerators.py) and the cloud
# builders' system pools name, from the AWS EC2 and Google Compute Engine instance-type pages.
INSTANCE_SHAPES: dict[str, Shape] = {
    # AWS
    "m7i.xlarge": Shape(4, 16),
    "g5.xlarge": Shape(4, 16),
    "g5.12xlarge": Shape(48, 192),
    "g5.48xlarge": Shape(192, 768),
    "g6.xlarge": Shape(4, 16),
    "g6.12xlarge": Shape(48, 192),
    "g6.48xlarge": Shape(192, 768),
    "g6e.xlarge": Shape(4, 32),
    "g6e.12xlarge": Shape(48, 384),
    "g6e.48xlarge": Shape(192, 1536),
    "g4dn.xlarge": Shape(4, 16),
    "g4dn.12xlarge": Shape(48, 192),
    "p4de.24xlarge": Shape(96, 1152),
    "p5.48xlarge": Shape(192, 2048),
    "p5en.48xlarge": Shape(192, 2048),
    "p6-b200.48xlarge": Shape(192, 2048),
    # Google Cloud
    "e2-standard-4": Shape(4, 16),
    "a2-ultragpu-8g": Shape(96, 1360),
    "a3-highgpu-8g": Shape(208, 1872),
    "a3-ultragpu-8g": Shape(224, 2952),
    "a4-highgpu-8g": Shape(224, 3968),
    "g2-standard-8": Shape(8, 32),
    "g2-standard-24": Shape(24, 96),
    "g2-standard-48": Shape(48, 192),
    "g2-standard-96": Shape(96, 384),
    "n1-standard-8": Shape(8, 30),
    "n1-standard-16": Shape(16, 60),
    "n1-standard-32": Shape(32, 120),
}


EVICTION_HARD_MIB = 100


def reserved_cpu_millis(vcpus: int) -> int:
    tiers = [(1, 60), (1, 10), (2, 5), (max(vcpus - 4, 0), 2.5)]  # (cores, millicores reserved per core)
    left, total = vcpus, 0.0
    for cores, per_core in tiers:
        take = min(left, cores)
        total += take * per_core
        left -= take
    return round(total)


def max_pods(cloud: str, vcpus: int) -> int:
    return (110 if vcpus <= 30 else 250) if cloud == "eks" else 110


def reserved_memory_mib(cloud: str, shape: Shape) -> int:
    if cloud == "eks":
        return 255 + 11 * max_pods(cloud, shape.vcpus)
    tiers = [(4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02)]
    left, total = float(shape.memory_gib), 0.0
    for gib, share in tiers:
        take = min(left, gib)
        total += take * share * 1024
        left -= take
    return round(total)


@dataclass(frozen=True)
class Allocatable:
    cpu_millis: int
    memory_mib: int
    pods: int


def allocatable(cloud: str, shape: Shape) -> Allocatable:
    """What a node of this shape offers pods on the cloud (eks or gke), after kubelet reservations."""
    return Allocatable(
        cpu_millis=shape.vcpus * 1000 - reserved_cpu_millis(shape.vcpus),
        memory_mib=shape.memory_gib * 1024 - reserved_memory_mib(cloud, shape) - EVICTION_HARD_MIB,
        pods=max_pods(cloud, shape.vcpus),
    )
