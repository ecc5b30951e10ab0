"""The local environment's OpenTelemetry Collector: cnai's own build (modules/go/otelcol) running the
cluster's pipeline (modules/components/observability.collector_pipelines). OTLP in from the jobs and
servers; traces to MLflow's OTLP endpoint; metrics to Prometheus, which scrapes the collector's Prometheus
exporter (Debian's Prometheus 2.42 has no OTLP receiver, the cluster's Prometheus takes OTLP itself)."""

from __future__ import annotations

from typing import Any

import yaml

from modules.components.observability import collector_pipelines, takes_signal
from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, ConfigFile, Server, http
from modules.spec import Spec

OTEL_COLLECTOR = "otel_collector"


def otlp_url(spec: Spec, signal: str) -> str | None:
    """Where jobs and servers send a signal (traces, metrics): the collector, where it has its pipeline."""
    return http(spec.local.ports.otlp_http, f"/v1/{signal}") if takes_signal(spec, signal) else None


def otlp_grpc_address(spec: Spec, signal: str) -> str | None:
    """host:port of the collector's OTLP/gRPC receiver, for servers whose SDK speaks gRPC (MLServer)."""
    return f"{LOOPBACK}:{spec.local.ports.otlp_grpc}" if takes_signal(spec, signal) else None


def otel_collector_config(spec: Spec) -> dict[str, Any]:
    ports = spec.local.ports
    prometheus = ("prometheus", {"endpoint": f"{LOOPBACK}:{ports.otel_collector_metrics}"})
    pipeline = collector_pipelines(spec, prometheus, http(ports.mlflow))
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"{LOOPBACK}:{ports.otlp_grpc}"},
                    "http": {"endpoint": f"{LOOPBACK}:{ports.otlp_http}"},
                }
            }
        },
        "processors": pipeline["processors"],
        "exporters": pipeline["exporters"],
        "extensions": {"health_check": {"endpoint": f"{LOOPBACK}:{ports.otel_collector_health}"}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": pipeline["pipelines"],
            # Its own metrics would take a fourth port (8888 by default, SeaweedFS's filer here); what
            # passes through it is what Prometheus scrapes.
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


def otel_collector_server(spec: Spec, paths: LocalPaths, binary: str) -> Server:
    ports = spec.local.ports
    config_path = str(paths.config / "otel-collector.yaml")
    return Server(
        name=OTEL_COLLECTOR,
        component="observability",
        command=[binary, f"--config=file:{config_path}"],
        ports={
            "otlp-grpc": ports.otlp_grpc,
            "otlp-http": ports.otlp_http,
            "metrics": ports.otel_collector_metrics,
            "health": ports.otel_collector_health,
        },
        health_url=http(ports.otel_collector_health, "/"),
        metrics_url=http(ports.otel_collector_metrics, "/metrics"),
        files=[ConfigFile(config_path, yaml.safe_dump(otel_collector_config(spec), sort_keys=False))],
    )
