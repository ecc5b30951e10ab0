"""NVIDIA GPU Operator: Helm values and the time-slicing config, derived from the spec's GPU pools."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import yaml

from modules.k8s.objects import k8s_object
from modules.k8s.pulumi_resources import helm_release, object_group
from modules.spec import GpuPool, Spec
from modules.spec.models import GPU_RESOURCE, GPU_TAINT

NAMESPACE = "gpu-operator"
TIME_SLICING_CONFIG = "cnai-time-slicing"


def deployed(spec: Spec) -> bool:
    """The operator is installed only where there are GPU pools to run it on."""
    return spec.components.gpu_operator.enabled and bool(spec.gpu_pools)


def time_slicing_profile(pool: GpuPool) -> dict[str, Any]:
    """The device plugin config one time-sliced pool selects through its node label."""
    return {
        "version": "v1",
        "sharing": {"timeSlicing": {"resources": [{"name": GPU_RESOURCE, "replicas": pool.sharing.replicas}]}},
    }


def time_slicing_config_map(spec: Spec) -> dict[str, Any] | None:
    sliced = [p for p in spec.gpu_pools if p.sharing.mode == "time-slicing"]
    if not sliced:
        return None
    data = {p.name: yaml.safe_dump(time_slicing_profile(p), sort_keys=False) for p in sliced}
    return k8s_object("v1", "ConfigMap", TIME_SLICING_CONFIG, NAMESPACE, data=data)


def gpu_operator_values(spec: Spec) -> dict[str, Any]:
    """Helm values: driver strategy explicit, sharing per pool, DCGM exporter scraped, GPU taint tolerated."""
    operator = spec.components.gpu_operator
    uses_mig = any(p.sharing.mode == "mig" for p in spec.gpu_pools)
    toleration = {"key": GPU_TAINT["key"], "operator": "Exists", "effect": GPU_TAINT["effect"]}
    values: dict[str, Any] = {
        "daemonsets": {"tolerations": [toleration]},
        # operator: the operator installs the driver; preinstalled: the node image ships it (EKS AL2023, GKE COS).
        "driver": {"enabled": operator.driver == "operator"},
        # preinstalled: the node's containerd already has the nvidia runtime (bare metal: modules/nodes).
        "toolkit": {"enabled": operator.toolkit == "operator"},
        "devicePlugin": {"enabled": True},
        "gfd": {"enabled": True},
        "nodeStatusExporter": {"enabled": True},
        "dcgmExporter": {
            "enabled": operator.dcgm_exporter,
            "serviceMonitor": {"enabled": operator.dcgm_exporter and spec.components.observability.enabled},
        },
        "migManager": {"enabled": uses_mig},
        "mig": {"strategy": operator.mig_strategy},
    }
    if time_slicing_config_map(spec) is not None:
        # Each time-sliced pool picks its entry through the node label nvidia.com/device-plugin.config.
        values["devicePlugin"]["config"] = {"name": TIME_SLICING_CONFIG, "default": ""}
    return values


def gpu_operator_objects(spec: Spec) -> list[dict[str, Any]]:
    if not spec.components.gpu_operator.enabled:
        return []
    config_map = time_slicing_config_map(spec)
    return [config_map] if config_map else []


@dataclass(frozen=True)
class GpuOperatorArgs:
    spec: Spec  # the environment; driver strategy and per-pool sharing derive from it


class GpuOperator(pulumi.ComponentResource):
    """The NVIDIA GPU Operator chart and the sharing config its device plugin reads."""

    def __init__(self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:GpuOperator", name, None, opts)
        config = object_group(f"{name}-sharing", gpu_operator_objects(args.spec), pulumi.ResourceOptions(parent=self))
        release = helm_release(
            f"{name}-chart",
            "gpu-operator",
            NAMESPACE,
            gpu_operator_values(args.spec),
            pulumi.ResourceOptions(parent=self, depends_on=[config]),
        )
        self.register_outputs({"release": release.status})
