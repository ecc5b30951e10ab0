"""Faults while clients write: kill -9 of each server and of supervisord mid-write, Ctrl-C during `up`.
Each asserts that no acknowledged write is lost and that the environment is healthy again."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import psutil
import pytest
from mlflow import MlflowClient
from pymilvus import DataType, MilvusClient

from modules.local.runtime import port_is_free
from tests.local.stacks import NO_RETRIES, running_stack, s3_client
from tests.local.test_runtime import kill_supervisord, shifted_spec, wait_restarted

pytestmark = [pytest.mark.local, pytest.mark.slow]

WRITE_SECONDS_AROUND_FAULT = 1.5


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    yield from running_stack(shifted_spec(), tmp_path_factory.mktemp("cnai-faults"))


@pytest.fixture(scope="module")
def s3(runtime):
    return s3_client(runtime, NO_RETRIES)


class Writer:
    """Writes in a loop from a thread; remembers what the server acknowledged."""

    def __init__(self, write: Callable[[int], object]) -> None:
        self.write, self.acknowledged, self.failed = write, {}, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            try:
                self.acknowledged[i] = self.write(i)
            except Exception:
                self.failed += 1  # not acknowledged: the client saw an error
                time.sleep(0.05)
            i += 1

    def __enter__(self) -> Writer:
        self._thread.start()
        time.sleep(WRITE_SECONDS_AROUND_FAULT)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(WRITE_SECONDS_AROUND_FAULT)
        self._stop.set()
        self._thread.join(timeout=60)


def kill_server(runtime, name: str) -> None:
    old = next(s.pid for s in runtime.status() if s.name == name)
    os.kill(old, signal.SIGKILL)
    wait_restarted(runtime, name, old)


def s3_writer(s3, prefix: str) -> Writer:
    def put(i: int) -> str:
        body = os.urandom(8192)
        s3.put_object(Bucket="datasets", Key=f"{prefix}/{i}", Body=body)
        return hashlib.sha256(body).hexdigest()

    return Writer(put)


def assert_objects(s3, prefix: str, writer: Writer) -> None:
    assert len(writer.acknowledged) > 5, "the writer barely wrote: the test would prove nothing"
    for i, digest in writer.acknowledged.items():
        body = s3.get_object(Bucket="datasets", Key=f"{prefix}/{i}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest, f"{prefix}/{i} lost or changed"


def test_object_store_kill_9_mid_write(runtime, s3):
    with s3_writer(s3, "fault-s3") as writer:
        kill_server(runtime, "object_storage")
    assert_objects(s3, "fault-s3", writer)


def test_mlflow_kill_9_mid_write(runtime):
    client = MlflowClient(f"http://127.0.0.1:{runtime.spec.local.ports.mlflow}")
    experiment = client.create_experiment("faults")
    run_id = client.create_run(experiment).info.run_id
    with Writer(lambda i: client.log_metric(run_id, "step_metric", float(i), step=i)) as writer:
        kill_server(runtime, "mlflow")
    history = {m.step: m.value for m in client.get_metric_history(run_id, "step_metric")}
    assert len(writer.acknowledged) > 5
    assert {i: float(i) for i in writer.acknowledged}.items() <= history.items()


def test_vector_db_kill_9_mid_write(runtime):
    uri = f"http://127.0.0.1:{runtime.spec.local.ports.vector_db}"
    milvus = MilvusClient(uri=uri, timeout=10)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    milvus.create_collection("faults", schema=schema)
    index = milvus.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    milvus.create_index("faults", index)

    def insert(i: int) -> int:
        MilvusClient(uri=uri, timeout=5).insert("faults", [{"id": i, "v": [float(i)] * 4}])
        return i

    with Writer(insert) as writer:
        kill_server(runtime, "vector_db")
    found = eventually(lambda: stored_ids(uri))
    assert len(writer.acknowledged) > 5
    assert set(writer.acknowledged) <= found


def stored_ids(uri: str) -> set[int]:
    """Read back without calling load_collection: healthy means queryable (Milvus Lite restarts with
    every collection released; the launcher loads them before the health check turns green)."""
    milvus = MilvusClient(uri=uri, timeout=10)
    return {row["id"] for row in milvus.query("faults", filter="id >= 0", output_fields=["id"], limit=16384)}


def eventually(read: Callable[[], set[int]], seconds: float = 60) -> set[int]:
    """pymilvus keeps the channel of the killed server and needs a few tries to recover its connection;
    the server itself is queryable as soon as it is healthy."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return read()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_supervisord_kill_9_mid_write_then_up(runtime, s3):
    with s3_writer(s3, "fault-supervisor") as writer:
        kill_supervisord(runtime)
        runtime.up()  # stops the orphans, starts everything under a new supervisord
    assert all(s.healthy for s in runtime.status())
    assert_objects(s3, "fault-supervisor", writer)


def test_ctrl_c_during_up_leaves_nothing_running(runtime, tmp_path):
    """SIGINT while `cnai up` waits for health: everything it started is stopped, then up works."""
    runtime.down()
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    document = runtime.spec.model_dump(mode="json", exclude={"name"})
    (stacks / "Pulumi.local.yaml").write_text(json.dumps({"config": {"cnai:spec": document}}))
    env = os.environ | {"CNAI_HOME": str(runtime.paths.home), "CNAI_STACKS": str(stacks)}
    proc = subprocess.Popen([sys.executable, "-m", "modules.cli", "up", "local"], env=env)
    pidfile = runtime.paths.home / "supervisord.pid"
    deadline = time.monotonic() + 60
    while not (pidfile.is_file() and runtime.supervisor.is_running()) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) != 0
    assert not runtime.supervisor.is_running()
    assert runtime.orphans() == {}
    assert [p for p in runtime.spec.local.ports.model_dump().values() if not port_is_free(p)] == []
    runtime.up()
    assert all(s.healthy for s in runtime.status())
    assert psutil.pid_exists(int(pidfile.read_text()))
