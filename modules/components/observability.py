"""Observability: kube-prometheus-stack (Prometheus, Alertmanager, Grafana with cnai's dashboards),
the OpenTelemetry Collector (OTLP in; metrics to Prometheus, traces to MLflow), and alert rules."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from modules.components.gpu_operator import deployed as gpu_operator_deployed
from modules.components.mlflow import COMPONENT as MLFLOW
from modules.components.mlflow import collector_user
from modules.components.mlflow_users import COLLECTOR_USER, TRACES_EXPERIMENT
from modules.components.objects import k8s_object, metadata, non_root_container_security
from modules.components.policies import matching, network_policy, tcp
from modules.components.registry import Component, Release, Service
from modules.spec import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES

NAMESPACE = PLATFORM_NAMESPACES["observability"]
DASHBOARDS_DIR = Path(__file__).parent / "dashboards"
GRAFANA_SECRET = "cnai-grafana-admin"
TRACES_HEADER = "x-mlflow-experiment-id"
OTLP_PORTS = {"grpc": 4317, "http": 4318}  # the collector's receivers
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"  # the OpenTelemetry SDK's own variable
PROMETHEUS_SERVICE = "kube-prometheus-stack-prometheus"  # the chart names it after the release
PROMETHEUS_PORT = 9090
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}  # set by the Prometheus operator
# Prometheus's targets that are nodes, not pods (kube-prometheus-stack's defaults); pods it reaches
# by namespace.
NODE_METRICS_PORTS = {
    "kubelet": 10250,
    "node-exporter": 9100,
    "kube-controller-manager": 10257,
    "kube-scheduler": 10259,
    "etcd": 2381,
    "kube-proxy": 10249,
}
# The collector's own MLflow user (modules/components/mlflow_users.py): its password, a file from a Secret, and
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


def dashboard_config_maps(spec: Spec) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard, labelled for Grafana's sidecar; only for what the spec runs."""
    wanted = {
        "gpu": gpu_operator_deployed(spec),  # DCGM metrics exist where the operator runs
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
    if gpu_operator_deployed(spec):
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


def traces_to_mlflow(spec: Spec) -> bool:
    """Whether the collector has a traces pipeline: MLflow is the platform's trace store."""
    return spec.components.mlflow.enabled and spec.components.mlflow.otlp_traces


def runs_collector(spec: Spec) -> bool:
    observability = spec.components.observability
    return observability.enabled and observability.otel_collector


def takes_signal(spec: Spec, signal: str) -> bool:
    """Whether the collector has a pipeline for `signal` (traces, metrics): a job sending to one it has
    not would be refused."""
    return runs_collector(spec) and (signal != "traces" or traces_to_mlflow(spec))


def otlp_url(spec: Spec, signal: str) -> str | None:
    """The collector's OTLP/HTTP endpoint for one signal, where it takes that signal."""
    return f"{COMPONENT.url('otlp', OTLP_PORTS['http'])}/v1/{signal}" if takes_signal(spec, signal) else None


COLLECTOR_PROCESSORS = {
    "batch": {},
    "memory_limiter": {"check_interval": "5s", "limit_percentage": 80, "spike_limit_percentage": 25},
}


def collector_pipelines(
    spec: Spec, metrics_exporter: tuple[str, dict[str, Any]], mlflow_url: str, mlflow_auth: str | None = None
) -> dict[str, Any]:
    """The collector's processors, exporters and pipelines, on clusters and in the local environment:
    OTLP in; metrics to Prometheus through `metrics_exporter` (name, settings), traces to MLflow."""
    name, settings = metrics_exporter
    exporters: dict[str, Any] = {name: settings}
    processors = ("memory_limiter", "batch")  # memory_limiter first, as the collector's docs advise
    pipelines: dict[str, Any] = {
        "metrics": {"receivers": ["otlp"], "processors": list(processors), "exporters": [name]}
    }
    if traces_to_mlflow(spec):
        # MLflow files OTLP spans under the experiment this header names (it refuses them without it).
        exporter: dict[str, Any] = {
            "traces_endpoint": f"{mlflow_url}/v1/traces",
            "headers": {TRACES_HEADER: TRACES_EXPERIMENT},
        }
        if mlflow_auth:
            exporter["auth"] = {"authenticator": mlflow_auth}
        exporters["otlphttp/mlflow"] = exporter
        pipelines["traces"] = {"receivers": ["otlp"], "processors": list(processors), "exporters": ["otlphttp/mlflow"]}
    return {"processors": COLLECTOR_PROCESSORS, "exporters": exporters, "pipelines": pipelines}


def otel_collector_values(spec: Spec) -> dict[str, Any]:
    """OTLP in (gRPC and HTTP); metrics to Prometheus's OTLP receiver, traces to MLflow."""
    authenticated = traces_to_mlflow(spec) and collector_user(spec)  # MLflow's basic auth guards /v1/traces
    prometheus = ("otlphttp/prometheus", {"endpoint": f"{COMPONENT.url('prometheus')}/api/v1/otlp"})
    auth = next(iter(MLFLOW_AUTH_EXTENSION)) if authenticated else None
    pipeline = collector_pipelines(spec, prometheus, MLFLOW.url("mlflow"), auth)
    return (MLFLOW_PASSWORD_MOUNT if authenticated else {}) | {
        "mode": "deployment",
        "image": {"repository": "otel/opentelemetry-collector-contrib"},
        "serviceMonitor": {"enabled": True},
        "ports": {"metrics": {"enabled": True}},
        "securityContext": non_root_container_security(),
        "config": {
            "receivers": {
                "otlp": {"protocols": {p: {"endpoint": f"0.0.0.0:{port}"} for p, port in OTLP_PORTS.items()}}
            },
            "processors": pipeline["processors"],
            "extensions": MLFLOW_AUTH_EXTENSION if authenticated else {},
            "exporters": pipeline["exporters"],
            # health_check: the chart's probes need it.
            "service": {
                "extensions": ["health_check", *MLFLOW_AUTH_EXTENSION] if authenticated else ["health_check"],
                "pipelines": pipeline["pipelines"],
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


def prometheus_to_targets(spec: Spec) -> list[dict[str, Any]]:
    """Prometheus scrapes pods in every namespace and the nodes' own metrics ports."""
    scrape = [{"to": [{"namespaceSelector": {}}]}, {"ports": tcp(*NODE_METRICS_PORTS.values())}]
    return [network_policy("allow-prometheus-to-targets", NAMESPACE, matching(PROMETHEUS_PODS), egress=scrape)]


COMPONENT = Component(
    key="observability",
    name="observability",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.observability.enabled,
    pod_security="privileged",  # node-exporter reads host namespaces
    releases=(
        Release("kube-prometheus-stack", "prometheus", kube_prometheus_values),
        Release("opentelemetry-collector", "otel-collector", otel_collector_values),
    ),
    objects=observability_objects,
    services=(
        Service("otlp", "opentelemetry-collector", tuple(OTLP_PORTS.values())),
        Service("prometheus", PROMETHEUS_SERVICE, (PROMETHEUS_PORT,), PROMETHEUS_PODS),
    ),
    policies=prometheus_to_targets,
    wait_ready=True,
    # The other charts (SeaweedFS, Milvus, CloudNativePG's PodMonitor...) render ServiceMonitors whose
    # CRDs it brings.
    foundation=True,
    calls=("mlflow",),  # the collector exports traces to MLflow
    platform_client=True,
    api_client="the Prometheus operator, kube-state-metrics, Prometheus's discovery, Grafana's sidecar",
    api_callbacks=(10250,),  # the Prometheus operator's admission webhook (tls.internalPort)
    local_servers=("prometheus",),
    pulumi_type="Observability",
)
