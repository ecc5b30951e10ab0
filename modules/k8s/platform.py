"""The platform program: the security baseline, then every enabled component of the registry
(modules/components/catalog.py) in install order, each after what it depends on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from modules.cloud.outputs import OUTPUTS_DIR, kubeconfig, load_outputs
from modules.components.catalog import component, dependencies, install_order
from modules.components.endpoints import cluster_endpoints
from modules.components.kserve import GATEWAY
from modules.components.kserve import NAMESPACE as KSERVE_NAMESPACE
from modules.components.object_storage import runs_in_cluster
from modules.components.observability import OTLP_PORTS
from modules.components.registry import Component
from modules.k8s.component import PlatformComponent
from modules.k8s.mlflow import Mlflow, MlflowArgs
from modules.k8s.object_storage import ObjectStorage, ObjectStorageArgs
from modules.k8s.observability import Observability, ObservabilityArgs
from modules.k8s.security import SecurityBaseline, SecurityBaselineArgs
from modules.spec import Spec
from modules.spec.models import CLOUD_TARGETS
from modules.versions import pinned_versions

Installed = dict[str, pulumi.ComponentResource]
Adapter = Callable[[Spec, Installed, pulumi.ResourceOptions], pulumi.ComponentResource]


def _mlflow(spec: Spec, installed: Installed, opts: pulumi.ResourceOptions) -> pulumi.ComponentResource:
    """MLflow takes the in-cluster store's platform keys and the collector's generated password."""
    storage = installed.get("object_storage")
    observability = installed.get("observability")
    identity = storage.platform_identity if isinstance(storage, ObjectStorage) else None
    password = observability.traces_password if isinstance(observability, Observability) else None
    return Mlflow("mlflow", MlflowArgs(spec, identity, password), opts)


# Components whose adapter makes credentials; every other one is a PlatformComponent.
ADAPTERS: dict[str, Adapter] = {
    "observability": lambda spec, installed, opts: Observability("observability", ObservabilityArgs(spec), opts),
    "object_storage": lambda spec, installed, opts: ObjectStorage("object-storage", ObjectStorageArgs(spec), opts),
    "mlflow": _mlflow,
}


def cluster_access(spec: Spec, outputs_dir: Path = OUTPUTS_DIR) -> dict[str, Any]:
    """The Kubernetes provider's settings: a cloud cluster from its stack's outputs, any other by context."""
    if spec.cluster.target in CLOUD_TARGETS:
        return {"kubeconfig": json.dumps(kubeconfig(spec, load_outputs(spec, outputs_dir)))}
    return {"context": spec.cluster.kube_context}


def installs_anything(component: Component, spec: Spec) -> bool:
    """Whether an enabled component has anything in this environment (the GPU Operator without GPU
    pools, a cloud object store: nothing)."""
    return bool(component.releases_for(spec) or component.objects_for(spec))


def deploy_platform(spec: Spec, provider: k8s.Provider) -> dict[str, object]:
    """Declare every enabled component; returns the outputs the stack exports."""
    security = SecurityBaseline("security", SecurityBaselineArgs(spec), pulumi.ResourceOptions(provider=provider))
    waits_for = dependencies(spec)
    installed: Installed = {}
    for declared in install_order(spec):
        if not installs_anything(declared, spec):
            continue
        after = [security, *(installed[key] for key in waits_for[declared.key] if key in installed)]
        opts = pulumi.ResourceOptions(provider=provider, depends_on=after)
        adapter = ADAPTERS.get(declared.key)
        installed[declared.key] = adapter(spec, installed, opts) if adapter else PlatformComponent(declared, spec, opts)
    return stack_outputs(spec)


def stack_outputs(spec: Spec) -> dict[str, object]:
    """The endpoints document (what `cnai smoke` reads), the BOM (what `cnai status` compares), and the
    addresses people look up most, from the same document."""
    document = cluster_endpoints(spec)
    store = document.object_store
    addresses = {
        "prometheus_url": document.prometheus_url,
        "otlp_url": component("observability").url("otlp", OTLP_PORTS["http"])
        if spec.components.observability.enabled
        else None,
        "mlflow_url": document.mlflow_url,
        "s3_url": store.s3_url if store and runs_in_cluster(spec) else None,
        "s3_credentials_secret": store.credentials.kubernetes_secret if store else None,
        "gateway": f"{KSERVE_NAMESPACE}/{GATEWAY}" if spec.components.kserve.enabled else None,
        "local_queues": document.kubernetes.local_queues or None,
    }
    return {
        "environment": spec.name,
        "endpoints": document.model_dump(mode="json"),
        "bom": pinned_versions(),
        **{key: value for key, value in addresses.items() if value is not None},
    }
