"""The local environment for real: real servers under supervisord, real data, real faults.

One stack per module, in a temporary CNAI_HOME, on ports shifted away from a developer's own
`cnai up local`. Tests run in file order: the fault and lifecycle tests come after the data they
check was written.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import time

import boto3
import httpx
import mlflow
import numpy as np
import psutil
import pytest
from botocore.exceptions import ClientError
from mlflow import MlflowClient
from pymilvus import DataType, MilvusClient

from modules.components.mlflow_users import TRACES_EXPERIMENT
from modules.local.paths import LocalPaths
from modules.local.reaper import processes_of
from modules.local.runtime import ORPHANED, LocalError, LocalRuntime, is_healthy, port_is_free
from modules.local.tls import TlsFiles
from modules.spec import Spec, validate
from smoke_tests.mlflow_traces import find_span
from tests import specs
from tests.local.stacks import LOCAL_SERVERS, ports_from, running_stack, s3_client

pytestmark = [pytest.mark.local, pytest.mark.slow]

PORTS_BASE = 12000  # apart from the other test stacks' and a developer's own stack
RESTART_TIMEOUT_S = 90


def shifted_spec() -> Spec:
    document = specs.local_document()
    document["local"] = {"ports": ports_from(PORTS_BASE)}
    return validate("local", document)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("cnai-home")


@pytest.fixture(scope="module")
def runtime(home):
    yield from running_stack(shifted_spec(), home)


@pytest.fixture(scope="module")
def s3(runtime):
    return s3_client(runtime)


@pytest.fixture(scope="module")
def written(runtime, s3):
    """Data written once, checked after every fault: an object, an MLflow run + model, vectors."""
    ports = runtime.spec.local.ports
    body = os.urandom(256 * 1024)
    s3.put_object(Bucket="datasets", Key="persist/blob.bin", Body=body)
    mlflow.set_tracking_uri(f"http://127.0.0.1:{ports.mlflow}")
    mlflow.set_experiment("persistence")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.25)
    client = MlflowClient()
    client.create_registered_model("persist-model")
    client.create_model_version("persist-model", f"runs:/{run.info.run_id}/model", run.info.run_id)
    milvus = MilvusClient(uri=f"http://127.0.0.1:{ports.vector_db}")
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=8)
    milvus.create_collection("persist", schema=schema)
    vectors = np.random.default_rng(3).standard_normal((100, 8)).astype(np.float32)
    milvus.insert("persist", [{"id": i, "v": vectors[i].tolist()} for i in range(100)])
    return {"sha256": hashlib.sha256(body).hexdigest(), "run_id": run.info.run_id}


def assert_data_intact(runtime, s3, written) -> None:
    ports = runtime.spec.local.ports
    blob = s3.get_object(Bucket="datasets", Key="persist/blob.bin")["Body"].read()
    assert hashlib.sha256(blob).hexdigest() == written["sha256"]
    client = MlflowClient(f"http://127.0.0.1:{ports.mlflow}")
    assert client.get_run(written["run_id"]).data.metrics["loss"] == 0.25
    assert client.get_registered_model("persist-model").latest_versions[0].version == "1"
    milvus = MilvusClient(uri=f"http://127.0.0.1:{ports.vector_db}")
    count = milvus.query("persist", filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"]
    assert count == 100


def wait_restarted(runtime, name: str, old_pid: int) -> None:
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while time.monotonic() < deadline:
        status = next(s for s in runtime.status() if s.name == name)
        if status.state == "RUNNING" and status.pid != old_pid and status.healthy:
            return
        time.sleep(0.5)
    pytest.fail(f"{name} did not come back healthy within {RESTART_TIMEOUT_S}s")


def test_up_starts_every_server_healthy(runtime):
    statuses = runtime.status()
    assert {s.name for s in statuses} == set(LOCAL_SERVERS)
    assert all(s.state == "RUNNING" and s.healthy for s in statuses), statuses


def test_endpoints_document_is_written(runtime):
    document = json.loads(runtime.paths.endpoints.read_text())
    assert document["mlflow_url"] == f"http://127.0.0.1:{runtime.spec.local.ports.mlflow}"
    assert document["components"]["kueue"] == "cluster-only"


def test_model_server_requests_reach_mlflow_as_spans_through_the_collector(runtime):
    """A server's own telemetry: MLServer traces each request (its tracing_server setting) over OTLP/gRPC
    to the collector, which files it in MLflow."""
    ports = runtime.spec.local.ports
    started_ns = time.time_ns()
    assert httpx.get(f"http://127.0.0.1:{ports.model_server}/v2", timeout=10).status_code == 200
    # MLServer batches spans for up to 5 s before sending them.
    span = find_span(f"http://127.0.0.1:{ports.mlflow}", TRACES_EXPERIMENT, "GET /v2", started_ns, timeout_s=60)
    assert span is not None, "no span of the model server's GET /v2 in MLflow within 60 s"
    assert span.attributes.get("http.route") == "/v2"


def test_credentials_are_generated_and_private(runtime):
    assert runtime.paths.credentials.stat().st_mode & 0o777 == 0o600
    assert json.loads(runtime.paths.credentials.read_text())["access_key"].startswith("CNAI")


def test_nothing_listens_beyond_loopback(runtime):
    pids = {p.pid for p in runtime.processes()}
    listening = [c for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert listening, "the stack listens somewhere"
    addresses = {ipaddress.ip_address(c.laddr.ip) for c in listening}
    # Go servers report IPv4 loopback as ::ffff:127.0.0.1 on a dual-stack socket bound to 127.0.0.1.
    unwrapped = {getattr(a, "ipv4_mapped", None) or a for a in addresses}
    assert unwrapped == {ipaddress.ip_address("127.0.0.1")}, addresses


def test_state_is_private_to_its_owner(runtime, written, tmp_path_factory):
    """Every file and folder of the state directory (databases, objects, logs, configs) is its owner's
    only; an unprivileged local user can read none of it even where every folder above is open."""
    home = runtime.paths.home
    loose = [
        f"{p} {oct(p.stat().st_mode)}"
        for p in [home, *home.rglob("*")]
        if p.lstat().st_mode & 0o077 and not (p.suffix == ".vif" and p.parent == runtime.paths.data("object_storage"))
    ]
    assert loose == [], "SeaweedFS alone chmods its volume info (.vif) 0644; its folder is 0700"
    if os.geteuid() != 0:
        return
    base = tmp_path_factory.getbasetemp()
    opened = [folder for folder in (base.parent, base, home.parent) if folder.stat().st_mode & 0o005 != 0o005]
    modes = {folder: folder.stat().st_mode for folder in opened}
    try:
        for folder in opened:
            folder.chmod(0o755)
        for target in (home, runtime.paths.credentials, runtime.paths.supervisor_conf, runtime.paths.data("mlflow")):
            proc = subprocess.run(["ls", "-la", str(target)], user="nobody", capture_output=True, text=True)
            assert proc.returncode != 0 and "Permission denied" in proc.stderr, (target, proc.stdout)
    finally:
        for folder, mode in modes.items():
            folder.chmod(mode)


@pytest.mark.parametrize(
    ("role", "path", "trusted_path"),
    [
        ("filer", "/buckets/datasets/persist/blob.bin", "/buckets/datasets/persist/blob.bin"),
        ("master", "/dir/assign", "/dir/status"),
        ("volume", "/status", "/status"),
    ],
)
def test_object_store_internals_refuse_clients_without_the_key(runtime, written, role, path, trusted_path):
    """SeaweedFS's master, volume server and filer take only mutual-TLS peers: plain HTTP and TLS without
    the private client certificate are refused; with it (the object store's own parts) the call works."""
    port = getattr(runtime.spec.local.ports, f"seaweedfs_{role}")
    plain = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    assert plain.status_code == 400 and "HTTPS" in plain.text
    tls = TlsFiles(runtime.paths.tls)
    anonymous = ssl.create_default_context(cafile=str(tls.ca))
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"https://127.0.0.1:{port}{path}", verify=anonymous, timeout=5)
    with pytest.raises(httpx.HTTPError):  # gRPC (HTTP port + 10000) is mutual TLS as well
        httpx.get(f"https://127.0.0.1:{port + 10000}/", verify=anonymous, timeout=5)
    assert httpx.get(f"https://127.0.0.1:{port}{trusted_path}", verify=ssl_context(tls), timeout=5).status_code == 200


def ssl_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca))
    context.load_cert_chain(str(tls.cert), str(tls.key))
    return context


def test_wrong_s3_credentials_are_rejected(runtime):
    intruder = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{runtime.spec.local.ports.object_storage}",
        aws_access_key_id="CNAIWRONG",
        aws_secret_access_key="wrong",
        region_name="us-east-1",
    )
    with pytest.raises(ClientError):
        intruder.get_object(Bucket="datasets", Key="persist/blob.bin")


def test_up_when_already_up_is_a_no_op(runtime, written):
    pids = {s.name: s.pid for s in runtime.status()}
    runtime.up()
    assert {s.name: s.pid for s in runtime.status()} == pids


@pytest.mark.parametrize("name", LOCAL_SERVERS)
def test_kill_9_restarts_and_loses_nothing(runtime, s3, written, name):
    old_pid = next(s.pid for s in runtime.status() if s.name == name)
    os.kill(old_pid, signal.SIGKILL)
    wait_restarted(runtime, name, old_pid)
    new_pid = next(s.pid for s in runtime.status() if s.name == name)
    new_tree = {new_pid, *(c.pid for c in psutil.Process(new_pid).children(recursive=True))}
    carrying_id = {p.pid for p in processes_of(f"{runtime.paths.home}/{name}", exclude=-1)}
    assert carrying_id <= new_tree, "orphans of the killed server are still running"
    assert_data_intact(runtime, s3, written)


def test_busy_port_is_named_and_nothing_starts(runtime, tmp_path):
    spec = shifted_spec()
    other = LocalRuntime(spec, LocalPaths(home=tmp_path / "other", venvs_root=runtime.paths.venvs_root))
    with pytest.raises(LocalError) as info:
        other.up()  # every port is held by the running stack
    assert f"port {spec.local.ports.object_storage} (object_storage s3)" in str(info.value)
    assert not other.supervisor.is_running()


def kill_supervisord(runtime) -> int:
    pid = int((runtime.paths.home / "supervisord.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(pid)], timeout=10)
    return pid


def test_kill_9_of_supervisord_is_seen_and_up_recovers(runtime, s3, written):
    servers = {s.name for s in runtime.status()}
    dead = kill_supervisord(runtime)
    orphaned = runtime.status()
    assert {s.name for s in orphaned} == servers
    assert {s.state for s in orphaned} == {ORPHANED}
    runtime.up()
    assert {s.name for s in runtime.status() if s.healthy and s.state == "RUNNING"} == servers
    assert int((runtime.paths.home / "supervisord.pid").read_text()) != dead
    assert_data_intact(runtime, s3, written)


def test_down_after_supervisord_died_leaves_no_process(runtime, s3, written):
    kill_supervisord(runtime)
    assert runtime.down(), "down stopped the orphans"
    assert runtime.orphans() == {}
    held = [p for p in runtime.spec.local.ports.model_dump().values() if not port_is_free(p)]
    assert held == []
    runtime.up()
    assert_data_intact(runtime, s3, written)


def test_down_up_keeps_all_data(runtime, s3, written):
    assert runtime.down()
    assert not is_healthy(f"http://127.0.0.1:{runtime.spec.local.ports.mlflow}/health")
    runtime.up()
    assert_data_intact(runtime, s3, written)


def test_parallel_ups_start_one_stack(runtime, home):
    runtime.down()
    env = os.environ | {"CNAI_HOME": str(home)}
    # The CLI reads the env's spec; point it at the shifted-port spec through a temporary stacks dir.
    stacks = home / "stacks"
    stacks.mkdir(exist_ok=True)
    document = runtime.spec.model_dump(mode="json", exclude={"name"})
    (stacks / "Pulumi.local.yaml").write_text(json.dumps({"config": {"cnai:spec": document}}))
    env["CNAI_STACKS"] = str(stacks)
    cmd = [sys.executable, "-m", "modules.cli", "up", "local"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("already up" in o for o in outputs) == 1, outputs
    supervisors = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(runtime.paths.supervisor_conf) in " ".join(p.info["cmdline"] or [])
    ]
    assert len(supervisors) == 1


def test_cli_reports_a_busy_port_without_traceback(runtime, home):
    env = os.environ | {"CNAI_HOME": str(home / "third"), "CNAI_STACKS": str(home / "stacks")}
    proc = subprocess.run([sys.executable, "-m", "modules.cli", "up", "local"], env=env, capture_output=True, text=True)
    assert proc.returncode == 3  # a runtime failure (exit codes: docs/troubleshooting.md)
    assert "already in use" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_purge_deletes_the_state_directory(runtime, home, tmp_path):
    runtime.down()
    doomed = runtime.purge()
    assert runtime.paths.credentials in doomed
    assert not runtime.paths.home.exists()
    held = [p for p in runtime.spec.local.ports.model_dump().values() if not port_is_free(p)]
    assert held == [], "ports still held after down"
