"""Every instance type cnai can ask a cloud for has its vCPU and memory facts (the sim shapes nodes by them)."""

from __future__ import annotations

from modules.cloud.node_pools import EKS_SYSTEM_INSTANCE, GKE_SYSTEM_MACHINE
from modules.spec.accelerators import ACCELERATORS
from modules.spec.instances import INSTANCE_SHAPES


def test_every_named_instance_type_has_a_shape():
    named = {EKS_SYSTEM_INSTANCE, GKE_SYSTEM_MACHINE}
    for accelerator in ACCELERATORS.values():
        named |= set(accelerator.eks_instance_types.values()) | set(accelerator.gke_machine_types.values())
    assert named - set(INSTANCE_SHAPES) == set()
    assert set(INSTANCE_SHAPES) - named == set(), "a shape no builder can ask for"
