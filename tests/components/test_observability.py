"""Observability builders: dashboards shipped, alert rules that matter, OTLP routed."""

from __future__ import annotations

import json

from modules.components.observability import (
    dashboard_config_maps,
    kube_prometheus_values,
    otel_collector_values,
    prometheus_rules,
)
from tests.specs import stand_in_spec


def test_dashboards_are_valid_json_labelled_for_grafana():
    maps = dashboard_config_maps(stand_in_spec("prod"))
    assert {m["metadata"]["name"] for m in maps} == {
        "cnai-dashboard-gpu",
        "cnai-dashboard-kueue",
        "cnai-dashboard-serving",
    }
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        [text] = config_map["data"].values()
        dashboard = json.loads(text)
        assert dashboard["panels"] and all(p["targets"][0]["expr"] for p in dashboard["panels"])


def test_no_gpu_dashboard_or_gpu_alerts_without_the_gpu_operator():
    spec = stand_in_spec("kind")  # an emulated GPU pool, but no DCGM exporter
    assert spec.gpu_pools and not spec.components.gpu_operator.enabled
    assert "cnai-dashboard-gpu" not in {m["metadata"]["name"] for m in dashboard_config_maps(spec)}
    groups = {g["name"] for rule in prometheus_rules(spec) for g in rule["spec"]["groups"]}
    assert groups == {"cnai-kueue"}


def test_alerts_cover_xid_memory_and_pending_queues():
    [rule] = prometheus_rules(stand_in_spec("prod"))
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts == {"GpuXidErrors", "GpuMemoryNearFull", "KueueWorkloadsPendingTooLong"}


def test_prometheus_selects_every_monitor_and_keeps_the_spec_retention():
    values = kube_prometheus_values(stand_in_spec("prod"))["prometheus"]["prometheusSpec"]
    assert values["retention"] == "30d"
    assert values["serviceMonitorSelectorNilUsesHelmValues"] is False


def test_collector_sends_metrics_to_prometheus_and_traces_to_mlflow():
    pipelines = otel_collector_values(stand_in_spec("prod"))["config"]["service"]["pipelines"]
    assert pipelines["metrics"]["exporters"] == ["otlphttp/prometheus"]
    assert pipelines["traces"]["exporters"] == ["otlphttp/mlflow"]
