"""The kind environment's cluster: a config cnai generates from the spec.

One control-plane node (Gateway NodePorts mapped to the host), one system worker, and one worker per
GPU pool that carries the pool's labels and taint, so Kueue flavors, tolerations and node selectors
schedule exactly as on a cloud pool (without GPUs: the GPU Operator stays off on kind).
"""

from __future__ import annotations

from typing import Any

import yaml

from modules.spec import GpuPool, Spec
from modules.versions import image

# Envoy Gateway's data plane as NodePorts on the control-plane container, reachable on the host.
GATEWAY_PORTS = ({"containerPort": 30080, "hostPort": 8080}, {"containerPort": 30443, "hostPort": 8443})


def kind_cluster_name(spec: Spec) -> str:
    """kind names its kubeconfig context kind-<cluster>; the spec's kube_context decides the name."""
    context = spec.cluster.kube_context or f"kind-cnai-{spec.name}"
    return context.removeprefix("kind-")


def _pool_worker(pool: GpuPool) -> dict[str, Any]:
    taints = [{"key": t["key"], "value": t["value"], "effect": t["effect"]} for t in pool.taints]
    join = {"kind": "JoinConfiguration", "nodeRegistration": {"taints": taints}}
    return {
        "role": "worker",
        "image": image("kind-node"),
        "labels": dict(pool.node_labels),
        "kubeadmConfigPatches": [yaml.safe_dump(join, sort_keys=False)],
    }


def kind_config(spec: Spec) -> dict[str, Any]:
    control_plane = {
        "role": "control-plane",
        "image": image("kind-node"),
        "extraPortMappings": [p | {"listenAddress": "127.0.0.1", "protocol": "TCP"} for p in GATEWAY_PORTS],
    }
    system = {"role": "worker", "image": image("kind-node"), "labels": {"cnai.io/pool": "system"}}
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": kind_cluster_name(spec),
        "nodes": [control_plane, system, *(_pool_worker(p) for p in spec.gpu_pools)],
    }
