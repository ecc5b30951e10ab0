"""Telemetry through the OpenTelemetry Collector, as a job sends it: a span over OTLP/HTTP arrives at the
platform's trace store (MLflow), a smoke job's own span does too, a metric over OTLP/HTTP becomes
queryable in Prometheus."""

from __future__ import annotations

import contextlib
import importlib
import io
import time
import uuid

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from modules.components.mlflow_users import TRACES_EXPERIMENT
from modules.components.observability import TRACES_ENDPOINT_ENV
from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import reaching, require
from smoke_tests.jobs.telemetry import span_name
from smoke_tests.mlflow_traces import find_span
from smoke_tests.result import parse_results

ARRIVAL_TIMEOUT_S = 30  # the collector batches (up to 200 ms) and Prometheus scrapes every few seconds
SMOKE_RESOURCE = Resource.create({"service.name": "cnai-smoke"})


def test_otlp_span_arrives_in_mlflow(endpoints: Endpoints):
    require(endpoints, "mlflow")
    if not endpoints.otlp_traces_url:
        pytest.skip("this environment exposes no OTLP traces endpoint")
    name = f"cnai-smoke-{uuid.uuid4().hex[:12]}"
    with reaching("observability", endpoints.otlp_traces_url):
        provider = TracerProvider(resource=SMOKE_RESOURCE)
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoints.otlp_traces_url)))
        with provider.get_tracer("cnai.smoke").start_as_current_span(name) as span:
            span.set_attribute("cnai.check", "traces")
        provider.shutdown()
    # The collector files every trace under one experiment (its exporter's header, not the sender's).
    with reaching("mlflow", endpoints.mlflow_url):
        assert find_span(endpoints.mlflow_url, TRACES_EXPERIMENT, name, timeout_s=ARRIVAL_TIMEOUT_S), (
            f"span {name} not in MLflow experiment {TRACES_EXPERIMENT} within {ARRIVAL_TIMEOUT_S}s"
        )


def test_a_smoke_jobs_own_span_arrives_with_its_result(endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch):
    """The inventory job, run as a pod runs it (outside the suite's results), with the traces endpoint in
    its environment as the runner and the Jobs' manifests set it."""
    require(endpoints, "mlflow")
    if not endpoints.otlp_traces_url:
        pytest.skip("this environment exposes no OTLP traces endpoint")
    monkeypatch.setenv(TRACES_ENDPOINT_ENV, endpoints.otlp_traces_url)
    started_ns, output = time.time_ns(), io.StringIO()
    with contextlib.redirect_stdout(output), reaching("observability", endpoints.otlp_traces_url):
        importlib.import_module("smoke_tests.jobs.inventory").main([])
    result = parse_results(output.getvalue())[-1]
    with reaching("mlflow", endpoints.mlflow_url):
        span = find_span(endpoints.mlflow_url, TRACES_EXPERIMENT, span_name("inventory"), started_ns, ARRIVAL_TIMEOUT_S)
    assert span is not None, f"no span {span_name('inventory')!r} in MLflow within {ARRIVAL_TIMEOUT_S}s"
    assert span.attributes["cnai.status"] == result.status
    assert span.attributes["cnai.device.type"] == result.device["type"]


def test_otlp_metric_reaches_prometheus(endpoints: Endpoints):
    require(endpoints, "observability")
    if not endpoints.otlp_metrics_url:
        pytest.skip("this environment exposes no OTLP metrics endpoint")
    run = uuid.uuid4().hex[:12]
    with reaching("observability", endpoints.otlp_metrics_url):
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoints.otlp_metrics_url))
        provider = MeterProvider(resource=SMOKE_RESOURCE, metric_readers=[reader])
        provider.get_meter("cnai.smoke").create_counter("cnai_smoke_steps").add(3, {"cnai_smoke_run": run})
        provider.shutdown()  # exports what was recorded
    # Matched on the run's label: Prometheus's and the exporter's name translations differ (suffixes).
    query = f'{{cnai_smoke_run="{run}"}}'
    with reaching("observability", endpoints.prometheus_url):
        values = query_until_found(endpoints.prometheus_url, query)
    assert values == [3.0], f"{query}: expected the counter's value [3.0] within {ARRIVAL_TIMEOUT_S}s, got {values}"


def query_until_found(prometheus_url: str, query: str) -> list[float]:
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    with httpx.Client(base_url=prometheus_url, timeout=10) as client:
        while True:
            result = client.get("/api/v1/query", params={"query": query}).json()["data"]["result"]
            if result or time.monotonic() > deadline:
                return [float(r["value"][1]) for r in result]
            time.sleep(1)
