"""The platform program: the components of one environment, in dependency order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from modules.cloud.outputs import OUTPUTS_DIR, kubeconfig, load_outputs
from modules.k8s.endpoints import cluster_endpoints
from modules.k8s.gpu_operator import GpuOperator, GpuOperatorArgs
from modules.k8s.gpu_operator import deployed as gpu_operator_deployed
from modules.k8s.karpenter import Karpenter, KarpenterArgs
from modules.k8s.kserve import KServe, KServeArgs
from modules.k8s.kueue import Kueue, KueueArgs
from modules.k8s.milvus import Milvus, MilvusArgs
from modules.k8s.mlflow import Mlflow, MlflowArgs
from modules.k8s.object_storage import ObjectStorage, ObjectStorageArgs, S3Identity, runs_in_cluster
from modules.k8s.observability import Observability, ObservabilityArgs
from modules.k8s.security import COMPONENT_NAMESPACES, SecurityBaseline, SecurityBaselineArgs
from modules.spec import Spec
from modules.spec.karpenter import uses_karpenter
from modules.spec.models import CLOUD_TARGETS
from modules.versions import pinned_versions


def cluster_access(spec: Spec, outputs_dir: Path = OUTPUTS_DIR) -> dict[str, Any]:
    """The Kubernetes provider's settings: a cloud cluster from its stack's outputs, any other by context."""
    if spec.cluster.target in CLOUD_TARGETS:
        return {"kubeconfig": json.dumps(kubeconfig(spec, load_outputs(spec, outputs_dir)))}
    return {"context": spec.cluster.kube_context}


def deploy_platform(spec: Spec, provider: k8s.Provider) -> dict[str, object]:
    """Declare every enabled component; returns the outputs the stack exports.

    Order: the security baseline (namespaces) first; observability next, since the other charts
    (SeaweedFS, Milvus, CloudNativePG's PodMonitor...) create ServiceMonitors whose CRDs it brings;
    Kueue after cert-manager when it uses it for its webhook certificates.
    """
    security = SecurityBaseline("security", SecurityBaselineArgs(spec), pulumi.ResourceOptions(provider=provider))
    ready: list[pulumi.Resource] = [security]
    outputs: dict[str, object] = {
        "environment": spec.name,
        "endpoints": cluster_endpoints(spec).model_dump(mode="json"),
        "bom": pinned_versions(),  # what `cnai status` compares with the current bill of materials
    }
    collector_password = None
    if spec.components.observability.enabled:
        observability = Observability("observability", ObservabilityArgs(spec), _after(provider, ready))
        outputs |= {"prometheus_url": observability.prometheus_url, "otlp_url": observability.otlp_url}
        ready = [security, observability]
        collector_password = observability.traces_password
    identity: S3Identity | None = None
    store: list[pulumi.Resource] = []  # the in-cluster object store, when there is one
    if runs_in_cluster(spec):  # after observability: the SeaweedFS chart renders ServiceMonitors
        storage = ObjectStorage("object-storage", ObjectStorageArgs(spec), _after(provider, ready))
        outputs |= {"s3_url": storage.s3_url, "s3_credentials_secret": storage.credentials_secret}
        identity, store = storage.platform_identity, [storage]
    if uses_karpenter(spec):  # GPU nodes appear only through it on EKS
        Karpenter("karpenter", KarpenterArgs(spec), _after(provider, ready))
    if gpu_operator_deployed(spec):
        GpuOperator("gpu-operator", GpuOperatorArgs(spec), _after(provider, ready))
    cert_manager: list[pulumi.Resource] = []  # KServe's component installs cert-manager
    if spec.components.kserve.enabled:
        kserve = KServe("kserve", KServeArgs(spec), _after(provider, ready))
        outputs["gateway"] = kserve.gateway
        cert_manager = [kserve]
    if spec.components.vector_db.enabled:
        # After the object store: its component writes Milvus's key Secret.
        Milvus("milvus", MilvusArgs(spec), _after(provider, [*ready, *store]))
    if spec.components.mlflow.enabled:
        mlflow = Mlflow("mlflow", MlflowArgs(spec, identity, collector_password), _after(provider, ready))
        outputs["mlflow_url"] = mlflow.url
    if spec.components.kueue.enabled:
        # With cert-manager, Kueue's chart renders Certificates and an Issuer: after cert-manager's CRDs.
        after = [*ready, *cert_manager] if spec.components.cert_manager.enabled else ready
        kueue = Kueue("kueue", KueueArgs(spec, COMPONENT_NAMESPACES["kueue"][0]), _after(provider, after))
        outputs["local_queues"] = kueue.local_queues
    return outputs


def _after(provider: k8s.Provider, dependencies: list[pulumi.Resource]) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(provider=provider, depends_on=list(dependencies))
