"""NVIDIA GPU Operator: Helm values and the time-slicing config, derived from the spec's GPU pools."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import yaml

from modules.components.objects import k8s_object
from modules.components.policies import HTTP_PORT, HTTPS_PORT, egress_to_public
from modules.components.registry import Component, Release
from modules.spec import GpuPool, Spec
from modules.spec.gpu_functions import GKE, GPU_OPERATOR, GpuFunctionOwners, gpu_function_owners
from modules.spec.models import GPU_RESOURCE, GPU_TAINT
from modules.spec.namespaces import PLATFORM_NAMESPACES
from modules.versions import binary

GKE_DRIVER_DIR = "/home/kubernetes/bin/nvidia"
NAMESPACE = PLATFORM_NAMESPACES["gpu_operator"]
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
    owners = gpu_function_owners(spec)
    owns = {f.name: owners is not None and getattr(owners, f.name) == GPU_OPERATOR for f in fields(GpuFunctionOwners)}
    toleration = {"key": GPU_TAINT["key"], "operator": "Exists", "effect": GPU_TAINT["effect"]}
    # Each function is the operator's only where modules/spec/gpu_functions.py gives it the operator.
    driver: dict[str, Any] = {"enabled": owns["driver"]}
    if owns["driver"]:
        driver["version"] = binary("nvidia-driver-operator")
    values: dict[str, Any] = {
        "daemonsets": {"tolerations": [toleration]},
        "driver": driver,
        "toolkit": {"enabled": owns["toolkit"]},
        "devicePlugin": {"enabled": owns["device_plugin"]},
        "gfd": {"enabled": True},
        "nodeStatusExporter": {"enabled": True},
        "dcgmExporter": {
            "enabled": operator.dcgm_exporter,
            "serviceMonitor": {"enabled": operator.dcgm_exporter and spec.components.observability.enabled},
        },
        "migManager": {"enabled": owns["mig_manager"]},
        "mig": {"strategy": operator.mig_strategy},
    }
    if owners is not None and owners.driver == GKE:
        # GKE's driver installer puts the driver under /home/kubernetes/bin/nvidia (NVIDIA's GKE guide).
        values["hostPaths"] = {"driverInstallDir": GKE_DRIVER_DIR}
        values["toolkit"]["installDir"] = GKE_DRIVER_DIR
    if time_slicing_config_map(spec) is not None:
        # Each time-sliced pool picks its entry through the node label nvidia.com/device-plugin.config.
        values["devicePlugin"]["config"] = {"name": TIME_SLICING_CONFIG, "default": ""}
    return values


def gpu_operator_objects(spec: Spec) -> list[dict[str, Any]]:
    if not spec.components.gpu_operator.enabled:
        return []
    config_map = time_slicing_config_map(spec)
    return [config_map] if config_map else []


def gpu_operator_policies(spec: Spec) -> list[dict[str, Any]]:
    if spec.components.gpu_operator.driver != "operator":
        return []
    # The driver container installs kernel headers from the distribution's package mirrors.
    return [egress_to_public("allow-to-package-mirrors", NAMESPACE, HTTP_PORT, HTTPS_PORT)]


COMPONENT = Component(
    key="gpu_operator",
    name="gpu-operator",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.gpu_operator.enabled,
    pod_security="privileged",  # it loads drivers and device plugins on the host
    releases=(Release("gpu-operator", "chart", gpu_operator_values, enabled=deployed),),
    objects=gpu_operator_objects,
    objects_resource="sharing",
    objects_first=True,  # the device plugin reads the sharing ConfigMap when it starts
    policies=gpu_operator_policies,
    api_client="the operator, NFD, GFD, the device plugin's config manager, the validator",
    pulumi_type="GpuOperator",
)
