"""`cnai render`: every object cnai authors and every Helm release it installs, as reviewable YAML."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from modules.k8s.gpu_operator import deployed as gpu_operator_deployed
from modules.k8s.gpu_operator import gpu_operator_objects, gpu_operator_values
from modules.k8s.karpenter import karpenter_objects, karpenter_values
from modules.k8s.kserve import CERT_MANAGER_VALUES, kserve_objects, kserve_values
from modules.k8s.kueue import jobset_values, kueue_objects, kueue_values
from modules.k8s.milvus import milvus_values
from modules.k8s.mlflow import mlflow_server_objects
from modules.k8s.namespaces import component_enabled
from modules.k8s.object_storage import runs_in_cluster, seaweedfs_values
from modules.k8s.observability import kube_prometheus_values, observability_objects, otel_collector_values
from modules.k8s.security import COMPONENT_NAMESPACES, security_objects
from modules.k8s.smoke_jobs import smoke_jobs
from modules.spec import Spec
from modules.versions import chart

ObjectBuilder = Callable[[Spec], list[dict[str, Any]]]

OBJECT_BUILDERS: dict[str, ObjectBuilder] = {
    "security": security_objects,
    "gpu-operator": gpu_operator_objects,
    "kueue": kueue_objects,
    "karpenter": karpenter_objects,
    "observability": observability_objects,
    "kserve": kserve_objects,
    "mlflow": mlflow_server_objects,
    "smoke-jobs": smoke_jobs,
}

# chart name in the BOM -> (spec component that enables it, values builder); installed in the
# component's namespace unless RELEASE_NAMESPACES names another (as the Pulumi components do).
RELEASES: dict[str, tuple[str, Callable[[Spec], dict[str, Any]]]] = {
    "gpu-operator": ("gpu_operator", gpu_operator_values),
    "jobset": ("kueue", jobset_values),
    "kueue": ("kueue", kueue_values),
    "seaweedfs": ("object_storage", seaweedfs_values),
    "kube-prometheus-stack": ("observability", kube_prometheus_values),
    "opentelemetry-collector": ("observability", otel_collector_values),
    "cert-manager": ("kserve", lambda spec: CERT_MANAGER_VALUES),
    "envoy-gateway": ("kserve", lambda spec: {}),
    "kserve-crd": ("kserve", lambda spec: {}),
    "kserve": ("kserve", kserve_values),
    # Rendered without the in-cluster store's keys: they exist only as secrets at deploy time.
    "milvus": ("vector_db", milvus_values),
    "cloudnative-pg": ("mlflow", lambda spec: {}),
    "karpenter-crd": ("karpenter", lambda spec: {}),
    "karpenter": ("karpenter", karpenter_values),
}
# KServe's component installs cert-manager in its own namespace, Kueue's JobSet in its own.
RELEASE_NAMESPACES = {"cert-manager": "cert_manager", "jobset": "jobset"}


def _release_enabled(spec: Spec, name: str, component: str) -> bool:
    if name == "seaweedfs":
        return runs_in_cluster(spec)
    if name == "gpu-operator":
        return gpu_operator_deployed(spec)
    return component_enabled(spec, component)


def helm_releases(spec: Spec) -> list[dict[str, Any]]:
    releases = []
    for name, (component, values) in RELEASES.items():
        if _release_enabled(spec, name, component):
            releases.append(
                {
                    "name": name,
                    "namespace": COMPONENT_NAMESPACES[RELEASE_NAMESPACES.get(name, component)][0],
                    **chart(name),
                    "values": values(spec),
                }
            )
    return releases


def rendered_files(spec: Spec) -> dict[str, str]:
    """File name -> YAML text: one file per component, plus helm-releases.yaml."""
    files = {
        f"{component}.yaml": yaml.safe_dump_all(objects, sort_keys=False)
        for component, builder in OBJECT_BUILDERS.items()
        if (objects := builder(spec))
    }
    files["helm-releases.yaml"] = yaml.safe_dump(helm_releases(spec), sort_keys=False)
    return files


def all_objects(spec: Spec) -> list[dict[str, Any]]:
    return [obj for builder in OBJECT_BUILDERS.values() for obj in builder(spec)]
