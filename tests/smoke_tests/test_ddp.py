"""The ddp job's pure parts: where a run's checkpoint goes (object key, folder), how it is written and read
back, the verdict from what its ranks recorded (a kill, a resume from the last checkpoint, a falling loss,
the store's figures) and the check's store arguments from the endpoints document. (The job itself runs for
real in the local smoke suite: 2 gloo ranks under torchrun.)"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from modules.endpoints import CredentialsRef, Endpoints, ObjectStore
from smoke_tests.checks.test_gpu_jobs import ddp_args
from smoke_tests.jobs.common import ObjectStoreError, s3_client
from smoke_tests.jobs.ddp import FolderCheckpoints, Store, StoreCheckpoints, _verdict, checkpoint_key, run_prefix
from smoke_tests.jobs.ddp import main as ddp_main

OK = subprocess.CompletedProcess([], 0, "", "")
STORE = Store("http://s3.test:8333", "us-east-1", "models", run_prefix("1a2b3c4d"), "/creds.json")
WHERE = "s3://models/smoke/ddp-1a2b3c4d/"


def _events(resumed_at: int = 30, final_loss: float = 0.05) -> list[dict]:
    return [
        {"kind": "start", "rank": 0, "step": 0, "restart": 0, "read_s": None, "t": 0.0},
        {"kind": "start", "rank": 1, "step": 0, "restart": 0, "read_s": None, "t": 0.0},
        {"kind": "first", "loss": 2.1, "t": 0.1},
        {"kind": "saved", "step": 10, "write_s": 0.01, "bytes": 11229, "t": 0.2},
        {"kind": "saved", "step": 20, "write_s": 0.02, "bytes": 11229, "t": 0.4},
        {"kind": "saved", "step": 30, "write_s": 0.03, "bytes": 11229, "t": 0.6},
        {"kind": "killed", "rank": 1, "step": 35, "t": 1.0},
        {"kind": "start", "rank": 0, "step": resumed_at, "restart": 1, "read_s": 0.015, "t": 7.5},
        {"kind": "start", "rank": 1, "step": resumed_at, "restart": 1, "read_s": 0.025, "t": 7.6},
        {"kind": "end", "step": 60, "loss": final_loss, "t": 9.0},
    ]


def _verdict_of(events: list[dict], done: subprocess.CompletedProcess = OK, **kwargs):
    return _verdict({}, done, events, steps=60, every=10, kill_at=35, **{"where": WHERE} | kwargs)


# --- where checkpoints go ---------------------------------------------------------------------------
def test_a_runs_checkpoint_is_one_object_under_its_own_prefix():
    assert run_prefix("1a2b3c4d") == "smoke/ddp-1a2b3c4d/"
    assert checkpoint_key(run_prefix("1a2b3c4d")) == "smoke/ddp-1a2b3c4d/checkpoint.pt"
    assert STORE.where == WHERE


def test_the_store_reaches_the_workers_as_json_without_keys():
    """The workers get the store on their command line: a credentials file's path, never a secret."""
    text = json.dumps(asdict(STORE))
    assert Store(**json.loads(text)) == STORE
    assert set(json.loads(text)) == {"url", "region", "bucket", "prefix", "credentials_file"}


def test_a_folder_checkpoint_is_replaced_whole_and_absent_on_a_fresh_run(tmp_path: Path):
    checkpoints = FolderCheckpoints(tmp_path)
    assert checkpoints.read() is None
    checkpoints.write(b"step 10")
    checkpoints.write(b"step 20")
    assert checkpoints.read() == b"step 20"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temporary left behind


@pytest.fixture
def stubbed() -> Iterator[tuple[StoreCheckpoints, Stubber]]:
    """The store's calls against botocore's stubber: the requests checked, nothing sent."""
    client = boto3.client(
        "s3", endpoint_url=STORE.url, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    with Stubber(client) as stubber:
        yield StoreCheckpoints(STORE, client), stubber
        stubber.assert_no_pending_responses()


def test_a_store_checkpoint_is_one_put_of_the_whole_object_to_its_final_key(stubbed):
    checkpoints, stubber = stubbed
    key = "smoke/ddp-1a2b3c4d/checkpoint.pt"
    stubber.add_response("put_object", {}, {"Bucket": "models", "Key": key, "Body": b"state"})
    checkpoints.write(b"state")


def test_a_fresh_run_finds_no_checkpoint_in_the_store(stubbed):
    checkpoints, stubber = stubbed
    stubber.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
    assert checkpoints.read() is None


def test_a_store_that_refuses_fails_in_one_line_naming_it(stubbed):
    checkpoints, stubber = stubbed
    stubber.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
    with pytest.raises(ObjectStoreError) as info:
        checkpoints.reach()
    assert str(info.value).startswith("object_storage at http://s3.test:8333: could not reach bucket models")
    assert "\n" not in str(info.value)


def test_an_unreadable_credentials_file_names_the_object_store(tmp_path: Path):
    with pytest.raises(ObjectStoreError, match=r"^object_storage: S3 credentials file .*FileNotFoundError"):
        s3_client(STORE.url, STORE.region, str(tmp_path / "absent.json"))


# --- the verdict ------------------------------------------------------------------------------------
def test_a_resume_from_the_last_checkpoint_passes_with_its_figures():
    result = _verdict_of(_events())
    assert result.status == "pass"
    figures = ("ranks", "restarts", "resumed_from_step", "resume_s", "checkpoints", "checkpoints_deleted")
    assert {k: result.metrics[k] for k in figures} == {
        "ranks": 2,
        "restarts": 1,
        "resumed_from_step": 30,
        "resume_s": 6.5,
        "checkpoints": WHERE,
        "checkpoints_deleted": True,
    }
    assert result.metrics["checkpoint_writes"] == 3
    assert result.metrics["checkpoint_write_s"] == 0.02  # the mean write
    assert result.metrics["checkpoint_read_s"] == 0.025  # the slowest rank's read: the group waits for it
    assert WHERE in result.message


def test_a_folder_run_says_so_and_has_no_store_cleanup_figure():
    result = _verdict_of(_events(), where="/tmp/cnai-ddp-x")
    assert result.status == "pass"
    assert result.metrics["checkpoints"] == "/tmp/cnai-ddp-x"
    assert "checkpoints_deleted" not in result.metrics


def test_objects_left_in_the_store_fail_the_run():
    result = _verdict_of(_events(), leftover=f"1 object(s) left under {WHERE} after deleting the run's objects")
    assert result.status == "fail" and result.metrics["checkpoints_deleted"] is False
    assert "1 object(s) left" in result.message


def test_a_rank_that_lost_the_store_fails_with_its_line_not_torchruns_tracebacks():
    lost = f"object_storage at {STORE.url}: could not read {checkpoint_key(STORE.prefix)}: EndpointConnectionError"
    events = [*_events()[:7], {"kind": "error", "rank": 0, "message": lost, "t": 8.0}]
    failed = subprocess.CompletedProcess([], 1, "", "Traceback (most recent call last):\n ... ChildFailedError")
    result = _verdict_of(events, failed)
    assert result.status == "fail" and result.message == lost


def test_a_resume_from_anywhere_else_fails():
    result = _verdict_of(_events(resumed_at=0))
    assert result.status == "fail" and "last checkpoint was step 30" in result.message


def test_a_loss_that_did_not_fall_fails():
    assert _verdict_of(_events(final_loss=3.0)).status == "fail"


def test_a_launcher_that_gave_up_fails_with_its_reason():
    failed = subprocess.CompletedProcess([], 1, "", "ChildFailedError: rank 0 exitcode 1")
    result = _verdict_of(_events()[:7], failed)
    assert result.status == "fail" and "ChildFailedError" in result.message


def test_a_node_of_a_gang_without_rank_0_passes_on_its_own_ranks_resume():
    """Rank 0 (the first and last loss) may be another node's; the resume is every node's to see."""
    other_node = [e for e in _events() if e["kind"] in ("start", "saved") and e.get("rank", 1) == 1]
    assert _verdict_of(other_node, whole=False).status == "pass"
    assert _verdict_of(other_node).status == "fail", "a whole run without rank 0's last loss did not finish"
    resumed_elsewhere = [e | {"step": 0} if e.get("restart") == 1 else e for e in other_node]
    assert _verdict_of(resumed_elsewhere, whole=False).status == "fail"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--nnodes", "2", "--rdzv-endpoint", "h:29400", "--run-id", "r"], "--s3-url"),
        (["--nnodes", "2", "--s3-url", "http://s3:8333", "--run-id", "r"], "--rdzv-endpoint"),
        (["--nnodes", "2", "--s3-url", "http://s3:8333", "--rdzv-endpoint", "h:29400"], "--run-id"),
        (["--nnodes", "0"], "at least 1"),
    ],
)
def test_a_gang_without_what_its_nodes_share_is_refused_naming_it(argv, named, capsys):
    with pytest.raises(SystemExit) as exited:
        ddp_main(argv)
    assert exited.value.code == 2 and named in capsys.readouterr().err


# --- the check's arguments --------------------------------------------------------------------------
def _endpoints(buckets: list[str], state: str = "enabled", file: str | None = "/creds.json") -> Endpoints:
    store = ObjectStore(s3_url="http://s3.test:8333", buckets=buckets, credentials=CredentialsRef(file=file))
    return Endpoints(environment="t", target="local", components={"object_storage": state}, object_store=store)


def test_the_check_passes_the_store_with_the_models_bucket_where_there_is_one():
    assert ddp_args(_endpoints(["datasets", "models"])) == [
        "--s3-url",
        "http://s3.test:8333",
        "--s3-region",
        "us-east-1",
        "--bucket",
        "models",
        "--s3-credentials-file",
        "/creds.json",
    ]


def test_the_check_falls_back_to_the_first_bucket_and_the_pods_own_credentials():
    args = ddp_args(_endpoints(["datasets", "mlflow"], file=None))
    assert args[args.index("--bucket") + 1] == "datasets" and "--s3-credentials-file" not in args


def test_without_object_storage_the_check_keeps_the_local_folder():
    assert ddp_args(_endpoints(["models"], state="disabled")) == []
