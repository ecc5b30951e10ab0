"""Karpenter on EKS: each GPU pool scales from zero on pending pods and back when its nodes are empty.

One NodePool and one EC2NodeClass per GPU pool, derived from the pool: the instance type of its GPU
count, its labels and taint (the same ones Kueue's flavor selects and tolerates), spot or on-demand,
its zones, and a GPU limit of `max_nodes` nodes. The AWS objects they name (node role, interruption
queue, discovery tags) come from modules/spec/karpenter.py, which the cloud stack reads too.
"""

from __future__ import annotations

from typing import Any

from modules.components.objects import k8s_object
from modules.components.policies import HTTPS_PORT, egress_to_public, egress_to_workload_identity
from modules.components.registry import Component, Release
from modules.spec import GpuPool, Spec
from modules.spec.gpu_functions import NODE_IMAGE, gpu_function_owners
from modules.spec.karpenter import (
    DISCOVERY_TAG,
    NAMESPACE,
    SERVICE_ACCOUNT,
    interruption_queue_name,
    node_role_name,
    uses_karpenter,
)
from modules.spec.models import GPU_RESOURCE
from modules.versions import binary

NODE_POOL_API = "karpenter.sh/v1"
NODE_CLASS_GROUP = "karpenter.k8s.aws"
NODE_CLASS_API = f"{NODE_CLASS_GROUP}/v1"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
# Training runs for hours: consolidation removes empty nodes only, never moves a running job.
EMPTY_FOR = "5m"
# Nodes are replaced after a month: new AMIs reach long-lived pools without an operator.
NODE_LIFETIME = "720h"
# GPU images (CUDA, PyTorch, vLLM) are tens of GB each; the AMI's 20 GB root fills with the first pull.
ROOT_VOLUME = "200Gi"


def ami_selection(spec: Spec) -> dict[str, Any]:
    """The AL2023 release the BOM pins. Where the node image owns the driver, Karpenter's alias (it picks
    the NVIDIA variant for GPU instances); where the GPU Operator does, the standard image of that release
    by its SSM parameter (the alias would bring a second driver)."""
    release = binary("eks-al2023-ami")
    owners = gpu_function_owners(spec)
    if owners is None or owners.driver == NODE_IMAGE:
        return {"amiSelectorTerms": [{"alias": f"al2023@{release}"}]}
    minor = binary("kubernetes")
    parameter = (
        f"/aws/service/eks/optimized-ami/{minor}/amazon-linux-2023/x86_64/standard/"
        f"amazon-eks-node-al2023-x86_64-standard-{minor}-{release}/image_id"
    )
    return {"amiFamily": "AL2023", "amiSelectorTerms": [{"ssmParameter": parameter}]}


def ec2_node_class(spec: Spec, pool: GpuPool) -> dict[str, Any]:
    """Where and how a pool's instances launch: private subnets and the cluster security group found by
    their discovery tag, IMDSv2 only and out of pods' reach (workloads use Pod Identity), an encrypted
    root volume."""
    node_class_spec = {
        **ami_selection(spec),
        "role": node_role_name(spec),
        "subnetSelectorTerms": [{"tags": {DISCOVERY_TAG: spec.cluster_name}}],
        "securityGroupSelectorTerms": [{"tags": {DISCOVERY_TAG: spec.cluster_name}}],
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/xvda",
                "ebs": {"volumeSize": ROOT_VOLUME, "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True},
            }
        ],
        "tags": {"cnai:environment": spec.name, "cnai:pool": pool.name},
    }
    return k8s_object(NODE_CLASS_API, "EC2NodeClass", pool.name, spec=node_class_spec)


def node_pool(spec: Spec, pool: GpuPool) -> dict[str, Any]:
    requirements = [
        {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": [pool.facts.eks_instance_types[pool.gpus_per_node]],
        },
        {"key": CAPACITY_TYPE, "operator": "In", "values": ["spot" if pool.spot else "on-demand"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(spec.cluster.zones)},
    ]
    template = {
        "metadata": {"labels": pool.node_labels},
        "spec": {
            "nodeClassRef": {"group": NODE_CLASS_GROUP, "kind": "EC2NodeClass", "name": pool.name},
            "requirements": requirements,
            "taints": [dict(t) for t in pool.taints],
            "expireAfter": NODE_LIFETIME,
        },
    }
    return k8s_object(
        NODE_POOL_API,
        "NodePool",
        pool.name,
        spec={
            "template": template,
            "limits": {GPU_RESOURCE: str(pool.max_nodes * pool.gpus_per_node)},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": EMPTY_FOR},
        },
    )


def karpenter_objects(spec: Spec) -> list[dict[str, Any]]:
    if not uses_karpenter(spec):
        return []
    return [obj for pool in spec.gpu_pools for obj in (ec2_node_class(spec, pool), node_pool(spec, pool))]


def karpenter_values(spec: Spec) -> dict[str, Any]:
    """The controller: this cluster, its interruption queue, Pod Identity's service account (the cloud
    stack associates the controller role with it), requests equal to limits as Karpenter advises."""
    resources = {"cpu": "1", "memory": "1Gi"}
    return {
        "settings": {"clusterName": spec.cluster_name, "interruptionQueue": interruption_queue_name(spec)},
        "serviceAccount": {"name": SERVICE_ACCOUNT},
        "replicas": 2 if spec.cluster.protect else 1,
        "controller": {"resources": {"requests": resources, "limits": resources}},
    }


def karpenter_policies(spec: Spec) -> list[dict[str, Any]]:
    """Karpenter launches and ends instances through AWS's public APIs (EC2, SQS, SSM, pricing, EKS),
    signed with the credentials the Pod Identity agent hands its service account."""
    return [
        egress_to_public("allow-to-aws-apis", NAMESPACE, HTTPS_PORT),
        egress_to_workload_identity(NAMESPACE, "eks"),
    ]


COMPONENT = Component(
    key="karpenter",
    name="karpenter",
    namespace=NAMESPACE,
    enabled=uses_karpenter,  # EKS GPU pools appear only through it
    releases=(
        Release("karpenter-crd", "crd"),
        # Its chart carries the same CRDs (installed if absent), so the pools follow both releases.
        Release("karpenter", "chart", karpenter_values),
    ),
    objects=karpenter_objects,
    objects_resource="pools",
    policies=karpenter_policies,
    api_client="Karpenter's controller (pods, nodes, NodeClaims)",
    pulumi_type="Karpenter",
)
