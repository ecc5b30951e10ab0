"""The local environment as data: which servers run, and the endpoints document they make."""

from __future__ import annotations

from dataclasses import dataclass

from modules.components.catalog import component
from modules.components.kserve import smoke_llm_uri
from modules.components.observability import runs_collector
from modules.endpoints import (
    COMPONENTS,
    ComponentState,
    CredentialsRef,
    Endpoints,
    Inference,
    ObjectStore,
    ScrapeTarget,
)
from modules.local.llm import LLM_SERVER, MODELS_BUCKET, llm_server, openai_url
from modules.local.milvus import milvus_server
from modules.local.mlflow import mlflow_server
from modules.local.mlserver import mlserver_server
from modules.local.otelcol import otel_collector_server, otlp_url
from modules.local.paths import LocalPaths
from modules.local.prometheus import prometheus_server
from modules.local.seaweedfs import seaweedfs_server
from modules.local.server import LOOPBACK, S3Credentials, Server, http
from modules.spec import Spec


def component_states(spec: Spec) -> dict[str, ComponentState]:
    """A component without a local counterpart in its declaration runs only on clusters."""
    states: dict[str, ComponentState] = {}
    for name in COMPONENTS:
        if not component(name).local_servers:
            states[name] = "cluster-only"
        else:
            states[name] = "enabled" if getattr(spec.components, name).enabled else "disabled"
    return states


def serves_llms(spec: Spec, enabled: set[str]) -> bool:
    """Generative models are served from the object store's models bucket, where the vLLM runtime is on."""
    storage = spec.components.object_storage
    return (
        "vllm" in spec.components.kserve.runtimes and "object_storage" in enabled and MODELS_BUCKET in storage.buckets
    )


@dataclass(frozen=True)
class LocalBinaries:
    """Where the servers that are not Python packages are (resolved or built by the runtime's setup)."""

    prometheus: str = "prometheus"
    otelcol: str = "otelcol"


def local_servers(
    spec: Spec,
    paths: LocalPaths,
    credentials: S3Credentials,
    binaries: LocalBinaries = LocalBinaries(),
    database_url: str | None = None,
) -> list[Server]:
    """Every server the local environment runs, in start order; disabled components are left out."""
    enabled = {name for name, state in component_states(spec).items() if state == "enabled"}
    servers: list[Server] = []
    if "object_storage" in enabled:
        servers.append(seaweedfs_server(spec, paths, credentials))
    if "mlflow" in enabled:
        servers.append(mlflow_server(spec, paths, credentials, database_url))
    if "kserve" in enabled:
        servers.append(mlserver_server(spec, paths))
        if serves_llms(spec, enabled):
            servers.append(llm_server(spec, paths, credentials))
    if "vector_db" in enabled:
        servers.append(milvus_server(spec, paths))
    if "observability" in enabled:
        if runs_collector(spec):
            servers.append(otel_collector_server(spec, paths, binaries.otelcol))
        servers.append(prometheus_server(spec, paths, servers, binaries.prometheus))
    return servers


def local_endpoints(spec: Spec, paths: LocalPaths, servers: list[Server]) -> Endpoints:
    ports, running = spec.local.ports, {s.component for s in servers}
    serving_llms = any(s.name == LLM_SERVER for s in servers)
    mlflow_url = http(ports.mlflow) if "mlflow" in running else None
    return Endpoints(
        environment=spec.name,
        target="local",
        components=component_states(spec),
        object_store=ObjectStore(
            s3_url=http(ports.object_storage),
            buckets=list(spec.components.object_storage.buckets),
            credentials=CredentialsRef(file=str(paths.credentials)),
        )
        if "object_storage" in running
        else None,
        mlflow_url=mlflow_url,
        inference=Inference(
            url=http(ports.model_server),
            grpc=f"{LOOPBACK}:{ports.model_server_grpc}",
            metrics_url=http(ports.model_server_metrics, "/metrics"),
            model_repository=str(paths.model_repository),
            openai_url=openai_url(spec) if serving_llms else None,
            llm_store_uri=smoke_llm_uri(spec) if serving_llms else None,
        )
        if "kserve" in running
        else None,
        vector_db_uri=http(ports.vector_db) if "vector_db" in running else None,
        prometheus_url=http(ports.prometheus) if "observability" in running else None,
        otlp_traces_url=otlp_url(spec, "traces") if "observability" in running else None,
        otlp_metrics_url=otlp_url(spec, "metrics") if "observability" in running else None,
        scrape_targets=[
            ScrapeTarget(job=s.name, address=s.metrics_url.split("/")[2]) for s in servers if s.metrics_url
        ],
    )
