"""Instance types as facts: vCPUs and memory, declared once (the sim's nodes and fit checks read them)."""

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
