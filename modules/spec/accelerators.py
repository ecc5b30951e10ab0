"""The accelerator registry: datasheet facts every layer derives from.

Peaks are dense (no sparsity), from NVIDIA's datasheets as collected in shared/GPU-FACTS.md.
`mem_bw_floor_ratio` is NVIDIA DCGM's pass floor (0.75 x the measured-good bandwidth) as a ratio of
the datasheet figure; `allreduce_busbw_floor_gbs` is the single-node 8-GPU NCCL floor where one has
been calibrated (None: correctness only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Accelerator:
    """Datasheet facts of one GPU model."""

    key: str
    # torch.cuda.get_device_name() / nvidia-smi names of exactly this part, vendor prefix aside: a PCIe or
    # NVL variant of the same chip has other peaks and is not this entry.
    product_names: tuple[str, ...]
    memory_gb: int
    bf16_tflops: float  # dense tensor-core peak (fp16 where the part has no bf16)
    fp32_tflops: float
    mem_bw_gbs: float
    mem_bw_floor_ratio: float
    interconnect: str
    nvlink_gbs: float | None
    mig_profiles: tuple[str, ...] = field(default_factory=tuple)
    allreduce_busbw_floor_gbs: float | None = None
    eks_instance_types: dict[int, str] = field(default_factory=dict)  # GPUs per node -> EC2 type
    gke_accelerator: str | None = None
    gke_machine_types: dict[int, str] = field(default_factory=dict)  # GPUs per node -> machine type
    # Regions cnai accepts for the GPU: a conservative subset of each cloud's GPU-regions page (extend
    # the tuple when a region is added); spot: whether the cloud sells the shape as spot capacity.
    eks_regions: tuple[str, ...] = ()
    gke_regions: tuple[str, ...] = ()
    eks_spot: bool = True
    gke_spot: bool = True
    gke_quota_metric: str | None = None  # regional GPU quota (spot: PREEMPTIBLE_ prefix)

    def regions(self, cloud: str) -> tuple[str, ...]:
        return self.eks_regions if cloud == "eks" else self.gke_regions

    def spot_offered(self, cloud: str) -> bool:
        return self.eks_spot if cloud == "eks" else self.gke_spot

    @property
    def supports_mig(self) -> bool:
        return bool(self.mig_profiles)

    def mig_slices(self, profile: str) -> int:
        """How many instances of a MIG profile fit on one GPU (e.g. 1g.10gb -> 7)."""
        compute_slices = int(profile.split("g.", 1)[0])
        return {1: 7, 2: 3, 3: 2, 4: 1, 7: 1}[compute_slices]


_HOPPER_MIG_80 = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")

ACCELERATORS: dict[str, Accelerator] = {
    a.key: a
    for a in (
        Accelerator(
            key="nvidia-a100-80gb",
            product_names=("A100-SXM4-80GB",),
            memory_gb=80,
            bf16_tflops=312,
            fp32_tflops=19.5,
            mem_bw_gbs=2039,
            mem_bw_floor_ratio=0.57,
            interconnect="NVLink3 600 GB/s",
            nvlink_gbs=600,
            mig_profiles=("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
            allreduce_busbw_floor_gbs=200,
            eks_instance_types={8: "p4de.24xlarge"},
            eks_regions=("us-east-1", "us-west-2"),
            eks_spot=False,  # p4de: on-demand and capacity blocks only
            gke_accelerator="nvidia-a100-80gb",
            gke_quota_metric="NVIDIA_A100_80GB_GPUS",
            gke_machine_types={8: "a2-ultragpu-8g"},
            gke_regions=("us-central1", "us-east4", "us-east5", "europe-west4", "asia-southeast1"),
        ),
        Accelerator(
            key="nvidia-h100-80gb",
            product_names=("H100 80GB HBM3",),
            memory_gb=80,
            bf16_tflops=989,
            fp32_tflops=67,
            mem_bw_gbs=3350,
            mem_bw_floor_ratio=0.57,
            interconnect="NVLink4 900 GB/s",
            nvlink_gbs=900,
            mig_profiles=_HOPPER_MIG_80,
            allreduce_busbw_floor_gbs=340,
            eks_instance_types={8: "p5.48xlarge"},
            eks_regions=("us-east-1", "us-east-2", "us-west-2", "eu-north-1", "ap-northeast-1"),
            gke_accelerator="nvidia-h100-80gb",
            gke_quota_metric="NVIDIA_H100_GPUS",
            gke_machine_types={8: "a3-highgpu-8g"},
            gke_regions=(
                "us-central1",
                "us-east4",
                "us-east5",
                "us-west1",
                "europe-west1",
                "europe-west4",
                "asia-southeast1",
            ),
        ),
        Accelerator(
            key="nvidia-h200-141gb",
            product_names=("H200",),
            memory_gb=141,
            bf16_tflops=989,
            fp32_tflops=67,
            mem_bw_gbs=4800,
            mem_bw_floor_ratio=0.46,
            interconnect="NVLink4 900 GB/s",
            nvlink_gbs=900,
            mig_profiles=("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
            allreduce_busbw_floor_gbs=340,
            eks_instance_types={8: "p5en.48xlarge"},
            eks_regions=("us-east-2", "us-west-2", "ap-northeast-1"),
            gke_accelerator="nvidia-h200-141gb",
            gke_quota_metric="NVIDIA_H200_GPUS",
            gke_machine_types={8: "a3-ultragpu-8g"},
            gke_regions=("us-central1", "europe-west1", "asia-south1"),
        ),
        Accelerator(
            key="nvidia-b200",
            product_names=("B200",),
            memory_gb=180,
            bf16_tflops=2250,
            fp32_tflops=75,
            mem_bw_gbs=8000,
            mem_bw_floor_ratio=0.51,
            interconnect="NVLink5 1.8 TB/s",
            nvlink_gbs=1800,
            mig_profiles=("1g.23gb", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"),
            eks_instance_types={8: "p6-b200.48xlarge"},
            eks_regions=("us-west-2",),
            eks_spot=False,  # p6-b200: capacity blocks only
            gke_accelerator="nvidia-b200",
            gke_quota_metric="NVIDIA_B200_GPUS",
            gke_machine_types={8: "a4-highgpu-8g"},
            gke_regions=("us-central1",),
            gke_spot=False,  # a4: reservations / DWS only in cnai's table
        ),
        Accelerator(
            key="nvidia-l40s",
            product_names=("L40S",),
            memory_gb=48,
            bf16_tflops=362,
            fp32_tflops=91.6,
            mem_bw_gbs=864,
            mem_bw_floor_ratio=0.61,
            interconnect="PCIe Gen4",
            nvlink_gbs=None,
            eks_instance_types={1: "g6e.xlarge", 4: "g6e.12xlarge", 8: "g6e.48xlarge"},
            eks_regions=("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1"),
        ),
        Accelerator(
            key="nvidia-l4",
            product_names=("L4",),
            memory_gb=24,
            bf16_tflops=121,
            fp32_tflops=30.3,
            mem_bw_gbs=300,
            mem_bw_floor_ratio=0.66,
            interconnect="PCIe Gen4",
            nvlink_gbs=None,
            eks_instance_types={1: "g6.xlarge", 4: "g6.12xlarge", 8: "g6.48xlarge"},
            eks_regions=("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"),
            gke_accelerator="nvidia-l4",
            gke_quota_metric="NVIDIA_L4_GPUS",
            gke_machine_types={1: "g2-standard-8", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"},
            gke_regions=(
                "us-central1",
                "us-east1",
                "us-east4",
                "us-west1",
                "europe-west1",
                "europe-west4",
                "asia-east1",
            ),
        ),
        Accelerator(
            key="nvidia-a10g",
            product_names=("A10G",),
            memory_gb=24,
            # NVIDIA publishes no A10G tensor figure; A10's 125 is the ceiling, A10G runs lower.
            bf16_tflops=125,
            fp32_tflops=31.2,
            mem_bw_gbs=600,
            mem_bw_floor_ratio=0.61,
            interconnect="PCIe Gen4",
            nvlink_gbs=None,
            eks_instance_types={1: "g5.xlarge", 4: "g5.12xlarge", 8: "g5.48xlarge"},
            eks_regions=("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"),
        ),
        Accelerator(
            key="nvidia-t4",
            product_names=("T4",),
            memory_gb=16,
            bf16_tflops=65,  # fp16 only: T4 has no bf16 tensor cores
            fp32_tflops=8.1,
            mem_bw_gbs=320,
            mem_bw_floor_ratio=0.57,
            interconnect="PCIe Gen3",
            nvlink_gbs=None,
            eks_instance_types={1: "g4dn.xlarge", 4: "g4dn.12xlarge"},
            eks_regions=("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"),
            gke_accelerator="nvidia-tesla-t4",
            gke_quota_metric="NVIDIA_T4_GPUS",
            gke_machine_types={1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32"},
            gke_regions=("us-central1", "us-east1", "us-west1", "europe-west1", "europe-west4", "asia-east1"),
        ),
    )
}


def identify(device_name: str) -> Accelerator | None:
    """The registry entry whose product name is the device name the driver reports (its "NVIDIA " or
    "Tesla " prefix aside). Exact, not a substring: "NVIDIA H100 PCIe" is not the SXM part, "NVIDIA L40"
    not an L4, "NVIDIA GH200 480GB" not an H200; an unknown part gets no ratio rather than a wrong one."""
    name = re.sub(r"^(nvidia|tesla)\s+", "", device_name.strip().lower())
    return next(
        (a for a in ACCELERATORS.values() if name in (p.lower() for p in a.product_names)),
        None,
    )
