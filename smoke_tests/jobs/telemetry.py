"""A smoke job's trace: one span per run, sent over OTLP to the platform's collector where the job's
environment names one (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the OpenTelemetry SDK's own variable: the
smoke runner sets it from the endpoints document, the Jobs' pods get it from their manifests). Its
attributes are the job's result: status, device, and its scalar figures."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from modules.components.observability import TRACES_ENDPOINT_ENV
from smoke_tests.result import JobResult

EXPORT_TIMEOUT_S = 5  # a collector that is down costs a job seconds, never its result


def span_name(job: str) -> str:
    return f"cnai-smoke-job {job}"


def span_attributes(result: JobResult) -> dict[str, Any]:
    """The result as span attributes: OTLP takes scalars only, so nested figures are left to the result line."""
    scalars = (bool, int, float, str)
    attributes: dict[str, Any] = {"cnai.job": result.name, "cnai.status": result.status}
    attributes |= {f"cnai.device.{k}": v for k, v in result.device.items() if isinstance(v, scalars)}
    attributes |= {f"cnai.metric.{k}": v for k, v in result.metrics.items() if isinstance(v, scalars)}
    attributes |= {f"cnai.timing.{k}": v for k, v in result.timings.items()}
    if result.ratio_to_peak is not None:
        attributes["cnai.ratio_to_peak"] = result.ratio_to_peak
    if result.message:
        attributes["cnai.message"] = result.message
    return attributes


def send_span(result: JobResult, started_ns: int, ended_ns: int) -> None:
    """Send the job's span where a traces endpoint is configured; nothing otherwise. Export errors are
    the SDK's to log: telemetry never changes a job's outcome."""
    endpoint = os.environ.get(TRACES_ENDPOINT_ENV)
    if not endpoint:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": "cnai-smoke-jobs"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT_S)))
    span = provider.get_tracer("cnai.smoke.jobs").start_span(
        span_name(result.name), start_time=started_ns, attributes=span_attributes(result)
    )
    if result.status == "fail":
        span.set_status(Status(StatusCode.ERROR, result.message))
    span.end(end_time=ended_ns)
    provider.shutdown()
