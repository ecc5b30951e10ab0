"""The endpoints document of a cluster environment (DESIGN.md section 4), from the spec alone.

In-cluster service names are the ones the platform's components create; the Pulumi program exports
this document as the stack output `endpoints`, which `cnai smoke ENV` hands to the suite.
"""

from __future__ import annotations

from modules.components.catalog import component
from modules.components.kserve import (
    SMOKE_LLM,
    SMOKE_MODEL,
    smoke_inference_service,
    smoke_llm_service,
    smoke_llm_uri,
    smoke_model_uri,
)
from modules.components.object_storage import CREDENTIALS_SECRET, runs_in_cluster
from modules.components.observability import otlp_url
from modules.endpoints import (
    COMPONENTS,
    ComponentState,
    CredentialsRef,
    Endpoints,
    GpuPoolEndpoint,
    Inference,
    KubernetesAccess,
    ObjectStore,
)
from modules.spec import Spec


def _object_store(spec: Spec) -> ObjectStore | None:
    storage = spec.components.object_storage
    if not storage.enabled:
        return None
    if runs_in_cluster(spec):
        store = component("object_storage")
        url, credentials = store.url("object-store"), f"{store.namespace}/{CREDENTIALS_SECRET}"
    elif storage.provider == "s3":
        url, credentials = f"https://s3.{spec.cluster.region}.amazonaws.com", None  # workload identity (IRSA)
    else:
        url, credentials = "https://storage.googleapis.com", None  # GKE workload identity, S3-interoperable API
    return ObjectStore(
        s3_url=url,
        region=spec.cluster.region or "us-east-1",
        buckets=[spec.bucket(b) for b in storage.buckets],
        credentials=CredentialsRef(kubernetes_secret=credentials),
    )


def _inference(spec: Spec) -> Inference | None:
    """The smoke models' predictor services (KServe Standard mode: <isvc>-predictor in the team
    namespace): the MLflow model's over OIP v2, the chat model's over the OpenAI API."""
    if not smoke_inference_service(spec):
        return None
    namespace, serves_llm = spec.teams[0].namespace_name, bool(smoke_llm_service(spec))
    return Inference(
        url=f"http://{SMOKE_MODEL}-predictor.{namespace}.svc:80",
        model_store_uri=smoke_model_uri(spec),
        openai_url=f"http://{SMOKE_LLM}-predictor.{namespace}.svc:80/v1" if serves_llm else None,
        llm_store_uri=smoke_llm_uri(spec) if serves_llm else None,
    )


def cluster_endpoints(spec: Spec) -> Endpoints:
    c = spec.components
    states: dict[str, ComponentState] = {n: "enabled" if getattr(c, n).enabled else "disabled" for n in COMPONENTS}
    queues = {t.name: f"{t.namespace_name}/{t.name}" for t in spec.teams} if c.kueue.enabled else {}
    pools = [
        GpuPoolEndpoint(
            name=p.name,
            accelerator=p.accelerator,
            expected_products=list(p.facts.product_names),
            gpus_per_node=p.gpus_per_node,
            max_nodes=p.max_nodes,
            sharing=p.sharing.mode,
            local_queue=next(
                (
                    queues[t.name]
                    for t in spec.teams
                    if t.name in queues and any(q.pool == p.name for q in t.gpu_quotas)
                ),
                None,
            ),
        )
        for p in spec.gpu_pools
    ]
    return Endpoints(
        environment=spec.name,
        target=spec.cluster.target,
        components=states,
        object_store=_object_store(spec),
        mlflow_url=component("mlflow").url("mlflow") if c.mlflow.enabled else None,
        inference=_inference(spec),
        vector_db_uri=component("vector_db").url("milvus") if c.vector_db.enabled else None,
        prometheus_url=component("observability").url("prometheus") if c.observability.enabled else None,
        otlp_traces_url=otlp_url(spec, "traces"),
        otlp_metrics_url=otlp_url(spec, "metrics"),
        kubernetes=KubernetesAccess(context=spec.cluster.kube_context or f"cnai-{spec.name}", local_queues=queues),
        gpu_pools=pools,
    )
