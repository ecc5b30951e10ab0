"""The ddp job as a multi-node gang, for real on one machine: two launchers (as two pods of a JobSet run
them) meet at a c10d rendezvous, train as one group of two ranks, lose a rank, re-form and resume from the
checkpoint in the stack's object store, then delete it. On clusters only the rendezvous host differs (the
coordinator pod, modules/components/smoke_jobs.ddp_gang)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from smoke_tests.result import parse_results
from tests.local.stacks import running_stack, s3_client
from tests.local.test_runtime import shifted_spec

pytestmark = [pytest.mark.local, pytest.mark.slow]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    yield from running_stack(shifted_spec(), tmp_path_factory.mktemp("gang-home"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_nodes_resume_together_after_losing_a_rank(runtime, tmp_path):
    ports = runtime.spec.local.ports
    argv = [
        *(sys.executable, "-m", "smoke_tests.jobs.ddp", "--quick"),
        *("--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--run-id", "gang-test"),
        *(
            "--s3-url",
            f"http://127.0.0.1:{ports.object_storage}",
            "--s3-credentials-file",
            str(runtime.paths.credentials),
        ),
    ]
    # Each node's output to its own file: two pipes read one after the other would stall the second node.
    logs = [tmp_path / f"node-{n}.log" for n in range(2)]
    nodes = []
    for log in logs:
        with log.open("w") as out:
            nodes.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True))
    for node in nodes:
        node.wait(timeout=600)
    outputs = [log.read_text() for log in logs]
    results = [parse_results(out)[-1] for out in outputs]
    assert [r.status for r in results] == ["pass", "pass"], [out[-2000:] for out in outputs]
    for result in results:
        assert result.metrics["nodes"] == 2 and result.metrics["world"] == 2 and result.metrics["ranks"] == 1
        assert result.metrics["restarts"] == 1 and result.metrics["resumed_from_step"] == 30
        assert result.metrics["checkpoints"] == "s3://models/smoke/ddp-gang-test/"
    # Rank 0 (first and last loss) was one node's; the rank that was killed, the other's or the same.
    assert sum(r.metrics["final_loss"] is not None for r in results) == 1
    assert any("resume_s" in r.metrics for r in results)
    listed = s3_client(runtime).list_objects_v2(Bucket="models", Prefix="smoke/ddp-gang-test/")
    assert listed.get("KeyCount", 0) == 0, "the run's checkpoint and kill marker were deleted"
