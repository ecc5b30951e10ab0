"""Traces: a span emitted by a smoke job over OTLP/HTTP arrives at the platform's trace store (MLflow)."""

from __future__ import annotations

import time
import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import reaching, require

ARRIVAL_TIMEOUT_S = 20


def test_otlp_span_arrives(endpoints: Endpoints):
    require(endpoints, "mlflow")
    if not endpoints.otlp_traces_url:
        pytest.skip("this environment exposes no OTLP traces endpoint")
    with reaching("mlflow", endpoints.otlp_traces_url):
        experiment_id = MlflowClient(endpoints.mlflow_url).get_experiment_by_name("cnai-smoke-traces")
        experiment_id = (
            experiment_id.experiment_id
            if experiment_id
            else MlflowClient(endpoints.mlflow_url).create_experiment("cnai-smoke-traces")
        )
        span_name = f"cnai-smoke-{uuid.uuid4().hex[:12]}"
        exporter = OTLPSpanExporter(
            endpoint=endpoints.otlp_traces_url, headers={"x-mlflow-experiment-id": experiment_id}
        )
        provider = TracerProvider(resource=Resource.create({"service.name": "cnai-smoke"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("cnai.smoke").start_as_current_span(span_name) as span:
            span.set_attribute("cnai.check", "traces")
        provider.shutdown()
        assert find_span(endpoints.mlflow_url, experiment_id, span_name), (
            f"span {span_name} not found in MLflow experiment {experiment_id} within {ARRIVAL_TIMEOUT_S}s"
        )


def find_span(mlflow_url: str, experiment_id: str, span_name: str) -> bool:
    mlflow.set_tracking_uri(mlflow_url)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while time.monotonic() < deadline:
        traces = mlflow.search_traces(locations=[experiment_id], return_type="list", max_results=50)
        if any(s.name == span_name for t in traces for s in t.data.spans):
            return True
        time.sleep(1)
    return False
