"""The local OpenTelemetry Collector: the cluster's pipeline, a configuration the real build accepts, and
a clear error where it cannot be built. (Telemetry through it for real: smoke_tests/checks/test_telemetry.py
on every `task up smoke`.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modules.components.observability import otel_collector_values
from modules.local.install import InstallError, otelcol_binary
from modules.local.otelcol import OTEL_COLLECTOR, otel_collector_config
from modules.local.paths import LocalPaths
from modules.local.server import S3Credentials
from modules.local.stack import local_endpoints, local_servers
from modules.spec import Spec, validate
from tests import specs

PATHS = LocalPaths(home=Path("/state"), venvs_root=Path("/venvs"))
CREDS = S3Credentials("CNAITESTACCESSKEY000", "test-secret")


def local_spec_with(**components: dict[str, Any]) -> Spec:
    return validate("local", specs.local_document(components=components))


def test_local_pipeline_is_the_clusters_but_for_where_metrics_go():
    spec = local_spec_with()
    local, cluster = otel_collector_config(spec), otel_collector_values(spec)["config"]
    assert local["processors"] == cluster["processors"]
    as_cluster = {
        name: p | {"exporters": ["otlphttp/prometheus" if e == "prometheus" else e for e in p["exporters"]]}
        for name, p in local["service"]["pipelines"].items()
    }
    assert as_cluster == cluster["service"]["pipelines"]
    assert set(as_cluster) == {"metrics", "traces"}
    mlflow_exporter = local["exporters"]["otlphttp/mlflow"]
    assert mlflow_exporter["headers"] == cluster["exporters"]["otlphttp/mlflow"]["headers"]
    assert mlflow_exporter["traces_endpoint"] == f"http://127.0.0.1:{spec.local.ports.mlflow}/v1/traces"


def test_without_mlflow_there_is_no_traces_pipeline_nor_endpoint():
    spec = local_spec_with(mlflow={"enabled": False})
    assert set(otel_collector_config(spec)["service"]["pipelines"]) == {"metrics"}
    endpoints = local_endpoints(spec, PATHS, local_servers(spec, PATHS, CREDS))
    assert endpoints.otlp_traces_url is None
    assert endpoints.otlp_metrics_url == f"http://127.0.0.1:{spec.local.ports.otlp_http}/v1/metrics"


def test_collector_turned_off_runs_no_collector_and_names_no_otlp_endpoint():
    spec = local_spec_with(observability={"otel_collector": False})
    servers = local_servers(spec, PATHS, CREDS)
    assert OTEL_COLLECTOR not in [s.name for s in servers] and "prometheus" in [s.name for s in servers]
    endpoints = local_endpoints(spec, PATHS, servers)
    assert (endpoints.otlp_traces_url, endpoints.otlp_metrics_url) == (None, None)


def validate_config(binary: str, config: dict[str, Any], path: Path) -> subprocess.CompletedProcess[str]:
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([binary, "validate", f"--config=file:{path}"], capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_the_built_collector_accepts_every_configuration_cnai_writes(tmp_path):
    binary = otelcol_binary()  # built once per machine (`cnai up local` builds it first)
    for n, spec in enumerate((local_spec_with(), local_spec_with(mlflow={"enabled": False}))):
        checked = validate_config(binary, otel_collector_config(spec), tmp_path / f"{n}.yaml")
        assert checked.returncode == 0, checked.stderr[-2000:]
    # The check can fail: a component this build leaves out is refused by name.
    broken = otel_collector_config(local_spec_with())
    broken["exporters"]["kafka"] = {}
    broken["service"]["pipelines"]["metrics"]["exporters"].append("kafka")
    refused = validate_config(binary, broken, tmp_path / "broken.yaml")
    assert refused.returncode != 0 and "kafka" in refused.stderr


def test_without_go_the_install_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("CNAI_BIN_DIR", str(tmp_path / "bin"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InstallError) as info:
        otelcol_binary()
    message = str(info.value)
    assert "OpenTelemetry Collector" in message and "`go`" in message and "install Go >=" in message


def test_not_built_and_not_to_be_built_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("CNAI_BIN_DIR", str(tmp_path / "bin"))
    with pytest.raises(InstallError, match=r"not built .*run `cnai up local`"):
        otelcol_binary(install=False)
