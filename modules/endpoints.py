"""The endpoints contract (DESIGN.md section 4): what a deployed environment hands the smoke suite.

The local runtime writes it to its state directory; the Pulumi program exports it as a stack output.
The smoke suite reads nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

COMPONENTS = (
    "gpu_operator",
    "cert_manager",
    "kueue",
    "kserve",
    "mlflow",
    "observability",
    "vector_db",
    "object_storage",
)

ComponentState = Literal["enabled", "disabled", "cluster-only"]


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CredentialsRef(Contract):
    """Where the S3 credentials are: a 0600 file (local) or a Kubernetes secret (cluster)."""

    file: str | None = None
    kubernetes_secret: str | None = Field(None, description="namespace/name")


class ObjectStore(Contract):
    s3_url: str
    region: str = "us-east-1"
    buckets: list[str]
    credentials: CredentialsRef


class Inference(Contract):
    url: str
    protocol: Literal["v2"] = "v2"
    grpc: str | None = None
    metrics_url: str | None = None
    model_repository: str | None = Field(None, description="local only: folder of model-settings.json files")
    model_store_uri: str | None = Field(
        None, description="cluster only: where the smoke model is published for the platform's InferenceService"
    )
    openai_url: str | None = Field(
        None, description="OpenAI API base URL (.../v1) serving generative models published under models/llm/"
    )
    llm_store_uri: str | None = Field(
        None, description="where the smoke suite publishes its generative model (a Hugging Face folder)"
    )


class ScrapeTarget(Contract):
    job: str
    address: str


class GpuPoolEndpoint(Contract):
    name: str
    accelerator: str
    expected_products: list[str]
    gpus_per_node: int
    max_nodes: int
    sharing: str
    local_queue: str | None = None


class KubernetesAccess(Contract):
    context: str
    local_queues: dict[str, str] = Field(default_factory=dict, description="team -> namespace/queue")


class Endpoints(Contract):
    environment: str
    target: str
    components: dict[str, ComponentState]
    object_store: ObjectStore | None = None
    mlflow_url: str | None = None
    inference: Inference | None = None
    vector_db_uri: str | None = None
    prometheus_url: str | None = None
    otlp_traces_url: str | None = None
    otlp_metrics_url: str | None = None
    scrape_targets: list[ScrapeTarget] = Field(default_factory=list)
    kubernetes: KubernetesAccess | None = None
    gpu_pools: list[GpuPoolEndpoint] = Field(default_factory=list)

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> Endpoints:
        return cls.model_validate(json.loads(path.read_text()))
