"""GPU node autoscaling on EKS with Karpenter: what its two halves must agree on, derived once.

The cloud stack (modules/cloud/eks/karpenter.py: node and controller roles, the interruption queue, the
discovery tags) and the cluster program (modules/components/karpenter.py: the controller, one NodePool and one
EC2NodeClass per GPU pool) both name the same AWS objects; neither restates the other's names.

EKS managed node groups cannot leave zero nodes without an autoscaler, and Karpenter scales each GPU
pool from zero on pending pods and back when a node is empty. It keeps no minimum, so an EKS GPU pool
declares `min_nodes: 0` (a spec check says so).
"""

from __future__ import annotations

from modules.spec.models import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES

NAMESPACE = PLATFORM_NAMESPACES["karpenter"]  # default-deny like every platform namespace (components/security.py)
SERVICE_ACCOUNT = "karpenter"
DISCOVERY_TAG = "karpenter.sh/discovery"  # on the private subnets and the cluster security group


def uses_karpenter(spec: Spec) -> bool:
    return spec.cluster.target == "eks" and bool(spec.gpu_pools)


def node_role_name(spec: Spec) -> str:
    """The IAM role of the nodes Karpenter launches (Karpenter makes their instance profile)."""
    return f"{spec.cluster_name}-karpenter-nodes"


def controller_role_name(spec: Spec) -> str:
    return f"{spec.cluster_name}-karpenter"


def interruption_queue_name(spec: Spec) -> str:
    """The SQS queue EventBridge fills with spot interruptions and instance health events."""
    return f"{spec.cluster_name}-karpenter"
