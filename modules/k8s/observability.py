"""Observability: kube-prometheus-stack (Prometheus, Alertmanager, Grafana with cnai's dashboards),
the OpenTelemetry Collector (OTLP in; metrics to Prometheus, traces to MLflow), and alert rules."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_random as random

from modules.k8s.mlflow import NAMESPACE as MLFLOW_NAMESPACE
from modules.k8s.mlflow import PORT as MLFLOW_PORT
from modules.k8s.mlflow import collector_user
from modules.k8s.mlflow_users import COLLECTOR_USER, TRACES_EXPERIMENT
from modules.k8s.objects import k8s_object, metadata, non_root_container_security
from modules.k8s.pulumi_resources import child_of, helm_release, object_group, secret_value
from modules.k8s.security import COMPONENT_NAMESPACES
from modules.spec import Spec

NAMESPACE = COMPONENT_NAMESPACES["observability"][0]
DASHBOARDS_DIR = Path(__file__).parent / "dashboards"
GRAFANA_SECRET = "cnai-grafana-admin"
MLFLOW_TRACES_URL = f"http://mlflow.{MLFLOW_NAMESPACE}.svc:{MLFLOW_PORT}"
TRACES_HEADER = "x-mlflow-experiment-id"
# The collector's own MLflow user (modules/k8s/mlflow_users.py): its password, a file from a Secret, and
# the extension that sends it.
TRACES_SECRET = "mlflow-traces"
TRACES_SECRET_DIR = "/etc/mlflow-traces"
MLFLOW_PASSWORD_MOUNT = {
    "extraVolumes": [{"name": "mlflow-traces", "secret": {"secretName": TRACES_SECRET}}],
    "extraVolumeMounts": [{"name": "mlflow-traces", "mountPath": TRACES_SECRET_DIR, "readOnly": True}],
}
MLFLOW_AUTH_EXTENSION = {
    "basicauth/mlflow": {
        "client_auth": {"username": COLLECTOR_USER, "password": f"${{file:{TRACES_SECRET_DIR}/password}}"}
    }
}


@cache
def dashboards() -> dict[str, str]:
    """cnai's Grafana dashboards, shipped as JSON beside this file (package data, like the BOM)."""
    return {p.stem: p.read_text() for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def gpu_metrics_exported(spec: Spec) -> bool:
    """DCGM metrics exist only where the GPU Operator runs on real GPU pools (not kind's emulated pool)."""
    return spec.components.gpu_operator.enabled and bool(spec.gpu_pools)


def dashboard_config_maps(spec: Spec) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard, labelled for Grafana's sidecar; only for what the spec runs."""
    wanted = {
        "gpu": gpu_metrics_exported(spec),
        "kueue": spec.components.kueue.enabled,
        "serving": spec.components.kserve.enabled,
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(f"cnai-dashboard-{name}", NAMESPACE, labels={"grafana_dashboard": "1"}),
            "data": {f"cnai-{name}.json": text},
        }
        for name, text in dashboards().items()
        if wanted.get(name, True)
    ]


def _rule(alert: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": alert,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def prometheus_rules(spec: Spec) -> list[dict[str, Any]]:
    groups = []
    if gpu_metrics_exported(spec):
        groups.append(
            {
                "name": "cnai-gpu",
                "rules": [
                    _rule(
                        "GpuXidErrors",
                        "increase(DCGM_FI_DEV_XID_ERRORS[10m]) > 0",
                        "0m",
                        "critical",
                        "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID errors",
                    ),
                    _rule(
                        "GpuMemoryNearFull",
                        "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > 0.95",
                        "15m",
                        "warning",
                        "GPU {{ $labels.gpu }} framebuffer above 95% for 15 minutes",
                    ),
                ],
            }
        )
    if spec.components.kueue.enabled:
        groups.append(
            {
                "name": "cnai-kueue",
                "rules": [
                    _rule(
                        "KueueWorkloadsPendingTooLong",
                        'sum by (cluster_queue) (kueue_pending_workloads{status="inadmissible"}) > 0',
                        "30m",
                        "warning",
                        "ClusterQueue {{ $labels.cluster_queue }} has had inadmissible workloads for 30 minutes",
                    ),
                ],
            }
        )
    if not groups:
        return []
    return [k8s_object("monitoring.coreos.com/v1", "PrometheusRule", "cnai-alerts", NAMESPACE, spec={"groups": groups})]


def kube_prometheus_values(spec: Spec) -> dict[str, Any]:
    observability = spec.components.observability
    return {
        "prometheus": {
            "prometheusSpec": {
                "retention": observability.retention,
                # Select every ServiceMonitor/PodMonitor/PrometheusRule, not only the chart's own.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "enableOTLPReceiver": True,
            }
        },
        "alertmanager": {"enabled": True},
        "grafana": {
            "enabled": observability.grafana,
            "admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "searchNamespace": NAMESPACE}},
        },
    }


def otel_collector_values(spec: Spec) -> dict[str, Any]:
    """OTLP in (gRPC 4317, HTTP 4318); metrics to Prometheus's OTLP receiver, traces to MLflow."""
    exporters: dict[str, Any] = {
        "otlphttp/prometheus": {"endpoint": f"http://kube-prometheus-stack-prometheus.{NAMESPACE}.svc:9090/api/v1/otlp"}
    }
    pipelines: dict[str, Any] = {
        "metrics": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "batch"],
            "exporters": ["otlphttp/prometheus"],
        }
    }
    tracing = spec.components.mlflow.enabled and spec.components.mlflow.otlp_traces
    authenticated = tracing and collector_user(spec)  # MLflow's basic auth guards /v1/traces
    if tracing:
        # MLflow files OTLP spans under the experiment this header names (it refuses them without it).
        exporter = {"traces_endpoint": f"{MLFLOW_TRACES_URL}/v1/traces", "headers": {TRACES_HEADER: TRACES_EXPERIMENT}}
        if authenticated:
            exporter["auth"] = {"authenticator": "basicauth/mlflow"}
        exporters["otlphttp/mlflow"] = exporter
        pipelines["traces"] = {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "batch"],
            "exporters": ["otlphttp/mlflow"],
        }
    return (MLFLOW_PASSWORD_MOUNT if authenticated else {}) | {
        "mode": "deployment",
        "image": {"repository": "otel/opentelemetry-collector-contrib"},
        "serviceMonitor": {"enabled": True},
        "ports": {"metrics": {"enabled": True}},
        "securityContext": non_root_container_security(),
        "config": {
            "receivers": {
                "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}}
            },
            "processors": {
                "batch": {},
                "memory_limiter": {"check_interval": "5s", "limit_percentage": 80, "spike_limit_percentage": 25},
            },
            "extensions": MLFLOW_AUTH_EXTENSION if authenticated else {},
            "exporters": exporters,
            # health_check: the chart's probes need it.
            "service": {
                "extensions": ["health_check", *MLFLOW_AUTH_EXTENSION] if authenticated else ["health_check"],
                "pipelines": pipelines,
            },
        },
    }


def observability_objects(spec: Spec) -> list[dict[str, Any]]:
    if not spec.components.observability.enabled:
        return []
    return [*dashboard_config_maps(spec), *prometheus_rules(spec)]


def grafana_admin_secret(password: Any) -> dict[str, Any]:
    return k8s_object(
        "v1",
        "Secret",
        GRAFANA_SECRET,
        NAMESPACE,
        type="Opaque",
        stringData={"admin-user": "admin", "admin-password": password},
    )


@dataclass(frozen=True)
class ObservabilityArgs:
    spec: Spec  # the environment; retention, Grafana and what to watch come from it


class Observability(pulumi.ComponentResource):
    """kube-prometheus-stack, the OpenTelemetry Collector, cnai's dashboards and alert rules."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:Observability", name, None, opts)
        child = child_of(self, opts)
        ref = args.spec.components.observability.grafana_admin_password
        password = (
            secret_value(ref, "components.observability.grafana_admin_password", f"{name}-grafana-password", child)
            if ref
            else pulumi.Output.secret("")
        )
        secrets = [grafana_admin_secret(password)]
        self.traces_password: pulumi.Output[str] | None = None
        if collector_user(args.spec):
            self.traces_password = random.RandomPassword(
                f"{name}-mlflow-traces-password", length=32, special=False, opts=child
            ).result
            secrets.append(
                k8s_object(
                    "v1",
                    "Secret",
                    TRACES_SECRET,
                    NAMESPACE,
                    type="Opaque",
                    stringData={"password": self.traces_password},
                )
            )
        admin = object_group(f"{name}-grafana-admin", secrets, child)
        stack = helm_release(
            f"{name}-prometheus",
            "kube-prometheus-stack",
            NAMESPACE,
            kube_prometheus_values(args.spec),
            child_of(self, opts, admin),
        )
        after_stack = child_of(self, opts, stack)
        collector = helm_release(
            f"{name}-otel-collector",
            "opentelemetry-collector",
            NAMESPACE,
            otel_collector_values(args.spec),
            after_stack,
        )
        object_group(f"{name}-dashboards-and-rules", observability_objects(args.spec), after_stack)
        self.prometheus_url = f"http://kube-prometheus-stack-prometheus.{NAMESPACE}.svc:9090"
        self.otlp_url = f"http://opentelemetry-collector.{NAMESPACE}.svc:4318"
        self.register_outputs(
            {"prometheus_url": self.prometheus_url, "otlp_url": self.otlp_url, "collector": collector.status}
        )
