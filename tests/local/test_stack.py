"""The local environment's builders: which servers, on which ports, with which configs (pure, no I/O)."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest
import yaml

from modules.local.mlserver import model_settings
from modules.local.paths import LocalPaths
from modules.local.seaweedfs import platform_identity
from modules.local.server import S3Credentials
from modules.local.stack import LocalBinaries, component_states, local_endpoints, local_servers
from modules.local.supervisor import supervisord_conf
from modules.spec import load_spec, validate
from tests import specs
from tests.conftest import assert_golden
from tests.local.stacks import LOCAL_SERVERS

PATHS = LocalPaths(home=Path("/state"), venvs_root=Path("/venvs"))
LAUNCHER = ["/python", "-m", "modules.local.reaper"]
CREDS = S3Credentials("CNAITESTACCESSKEY000", "test-secret")
BINARIES = LocalBinaries(prometheus="/usr/bin/prometheus", otelcol="/bin/otelcol-test")


@pytest.fixture
def servers(local_spec):
    return local_servers(local_spec, PATHS, CREDS, BINARIES)


def test_every_enabled_data_plane_component_runs(servers):
    assert [s.name for s in servers] == list(LOCAL_SERVERS)


def test_cluster_only_components_are_listed_not_run(local_spec):
    states = component_states(local_spec)
    assert {k for k, v in states.items() if v == "cluster-only"} == {"gpu_operator", "cert_manager", "kueue"}


def test_disabled_component_is_not_started():
    document = specs.local_document()
    document["components"]["vector_db"] = {"enabled": False}
    spec = validate("local", document)
    servers = local_servers(spec, PATHS, CREDS)
    assert "vector_db" not in [s.name for s in servers]
    assert component_states(spec)["vector_db"] == "disabled"
    assert local_endpoints(spec, PATHS, servers).vector_db_uri is None


def test_ports_come_from_the_spec():
    document = specs.local_document()
    document["local"] = {"ports": {"mlflow": 15000, "prometheus": 19090}}
    servers = {s.name: s for s in local_servers(validate("local", document), PATHS, CREDS)}
    assert servers["mlflow"].ports == {"http": 15000}
    assert "--web.listen-address=127.0.0.1:19090" in servers["prometheus"].command


BOUND_IN_CONFIG_FILE = {"model_server", "otel_collector"}


def test_everything_binds_loopback_only(servers):
    for server in servers:
        command = " ".join(server.command)
        assert "0.0.0.0" not in command, server.name
        assert "127.0.0.1" in command or server.name in BOUND_IN_CONFIG_FILE, server.name
    settings = json.loads(next(s for s in servers if s.name == "model_server").files[0].content)
    assert settings["host"] == "127.0.0.1"
    collector = yaml.safe_load(next(s for s in servers if s.name == "otel_collector").files[0].content)
    listening = [p["endpoint"] for p in collector["receivers"]["otlp"]["protocols"].values()]
    listening += [collector["exporters"]["prometheus"]["endpoint"], collector["extensions"]["health_check"]["endpoint"]]
    assert {e.rsplit(":", 1)[0] for e in listening} == {"127.0.0.1"}


def test_supervisor_restarts_crashed_servers_and_logs_each(servers):
    conf = configparser.RawConfigParser()
    conf.read_string(supervisord_conf(servers, PATHS, LAUNCHER))
    for server in servers:
        section = conf[f"program:{server.name}"]
        assert section["autorestart"] == "true"
        assert section["stdout_logfile"] == f"/state/logs/{server.name}.log"
        assert section["stopasgroup"] == "true"
    assert conf["unix_http_server"]["chmod"] == "0700"


def test_mlflow_job_runner_is_off_and_artifacts_go_to_the_bucket(servers):
    mlflow = next(s for s in servers if s.name == "mlflow")
    assert mlflow.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "s3://mlflow-artifacts/" in mlflow.command


def test_prometheus_scrapes_every_server_with_metrics(servers):
    prometheus = next(s for s in servers if s.name == "prometheus")
    config = yaml.safe_load(prometheus.files[0].content)
    jobs = {j["job_name"] for j in config["scrape_configs"]}
    assert jobs == {"prometheus"} | {s.name for s in servers if s.metrics_url and s.name != "prometheus"}


def test_credentials_file_is_private(servers):
    s3_config = next(s for s in servers if s.name == "object_storage").files[0]
    assert s3_config.mode == 0o600
    keys = platform_identity(CREDS)["identities"][0]["credentials"][0]
    assert keys == {"accessKey": CREDS.access_key, "secretKey": CREDS.secret_key}


def test_model_settings_use_the_mlflow_runtime():
    settings = model_settings("m", "models:/m/1")
    assert settings["implementation"] == "mlserver_mlflow.MLflowRuntime"
    assert settings["parameters"]["uri"] == "models:/m/1"


def test_golden_local_configs():
    """What the shipped local environment renders (these goldens are of the shipped file, on purpose)."""
    local_spec = load_spec("local")
    servers = local_servers(local_spec, PATHS, CREDS, BINARIES)
    assert_golden("local/supervisord.conf", supervisord_conf(servers, PATHS, LAUNCHER))
    for server in servers:
        for config in server.files:
            assert_golden(f"local/{Path(config.path).name}", config.content)
    assert_golden("local/endpoints.json", local_endpoints(local_spec, PATHS, servers).model_dump_json(indent=2) + "\n")


def test_no_secret_in_supervisord_conf(servers):
    """supervisord.conf names files; the S3 secret reaches MLflow and the LLM server only through 0600 files."""
    conf = supervisord_conf(servers, PATHS, LAUNCHER)
    assert CREDS.secret_key not in conf and "umask = 077" in conf
    secret_files = [c for s in servers for c in s.files if CREDS.secret_key in c.content]
    assert {Path(c.path).name for c in secret_files} == {
        "seaweedfs-s3.json",
        "mlflow-aws-credentials",
        "llm-aws-credentials",
    }
    assert {c.mode for s in servers for c in s.files} == {0o600}
