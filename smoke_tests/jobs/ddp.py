"""ddp: data-parallel training that survives losing a worker. torchrun starts the ranks (one per local GPU
on NCCL, 2 on CPU over gloo); rank 0 checkpoints model, optimizer and step every few steps, atomically, to
the object store when one is given (--s3-url: the nodes of a multi-node gang share no disk), else to a
local folder. One worker is killed once past the middle of the run; torchrun restarts the group and every
rank resumes from the last checkpoint, read back from where it was written. The result says where the
checkpoints went, the step the group resumed from, the seconds from the kill to the resumed group's first
step, checkpoint write/read seconds and whether the loss fell; the run's objects are deleted at the end.
The same code runs a multi-node gang (a JobSet on clusters: one launcher per pod, --nnodes, a c10d
rendezvous at the coordinator pod, checkpoints in the object store since the nodes share no disk): each
node's launcher reports its own ranks, and the kill-once marker lives beside the checkpoints, so the
restarted group, whatever ranks its nodes get, kills no one again.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from botocore.exceptions import ClientError
from torch import nn

from smoke_tests.jobs.common import (
    ObjectStoreError,
    add_s3_arguments,
    device_info,
    object_store_errors,
    parser,
    run_job,
    s3_client,
)
from smoke_tests.result import JobResult

CHECKPOINT = "checkpoint.pt"
EVENTS = "events.jsonl"  # what each rank start, checkpoint and the run's end record, for the report
KILLED = "killed"  # marker: the fault is injected once, not again in the restarted group
MODELS_BUCKET = "models"  # a checkpoint is a model in the making


# --- where checkpoints go -------------------------------------------------------------------------
def run_prefix(run_id: str) -> str:
    """A run's own folder in the bucket: parallel runs and a crashed run's leftovers never mix."""
    return f"smoke/ddp-{run_id}/"


def checkpoint_key(prefix: str) -> str:
    return f"{prefix}{CHECKPOINT}"


@dataclass(frozen=True)
class Store:
    """A run's place in the object store. It reaches the workers as JSON on their command line, so it holds
    no keys: those come from the credentials file's path or the AWS_* variables torchrun passes on."""

    url: str
    region: str
    bucket: str
    prefix: str
    credentials_file: str | None = None

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class Checkpoints(Protocol):
    where: str

    def write(self, blob: bytes) -> None: ...

    def read(self) -> bytes | None: ...

    def mark_killed(self, at: float) -> None: ...

    def killed_at(self) -> float | None: ...


class FolderCheckpoints:
    """A local folder: enough for one node's ranks, and for a job run without the platform."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / CHECKPOINT
        self.where = str(folder)

    def write(self, blob: bytes) -> None:
        tmp = self.path.with_name(f"{CHECKPOINT}.tmp")
        tmp.write_bytes(blob)
        tmp.replace(self.path)  # a crash mid-write leaves the previous checkpoint whole

    def read(self) -> bytes | None:
        return self.path.read_bytes() if self.path.is_file() else None

    def mark_killed(self, at: float) -> None:
        (self.path.parent / KILLED).write_text(str(at))

    def killed_at(self) -> float | None:
        marker = self.path.parent / KILLED
        return float(marker.read_text()) if marker.is_file() else None


class StoreCheckpoints:
    """The object store: what every node of a gang reaches, where no two nodes share a disk."""

    def __init__(self, store: Store, client: Any | None = None) -> None:
        self.store = store
        self.where = store.where
        self.key = checkpoint_key(store.prefix)
        self.client = client if client is not None else s3_client(store.url, store.region, store.credentials_file)

    def reach(self) -> None:
        with object_store_errors(self.store.url, f"reach bucket {self.store.bucket}"):
            self.client.head_bucket(Bucket=self.store.bucket)

    def write(self, blob: bytes) -> None:
        # One PUT of the whole object, no temporary key copied into place: S3 makes a PUT visible whole or
        # not at all (a writer killed mid-upload leaves the previous checkpoint as it was) and a read after
        # it returns the new object (read-after-write consistency). A temporary key would cost a copy and a
        # delete per checkpoint, and leave an orphan object after a crash, for no extra safety.
        with object_store_errors(self.store.url, f"write {self.key} to bucket {self.store.bucket}"):
            self.client.put_object(Bucket=self.store.bucket, Key=self.key, Body=blob)

    def read(self) -> bytes | None:
        return self._get(self.key)

    def mark_killed(self, at: float) -> None:
        with object_store_errors(self.store.url, f"write the kill marker to bucket {self.store.bucket}"):
            self.client.put_object(Bucket=self.store.bucket, Key=f"{self.store.prefix}{KILLED}", Body=str(at).encode())

    def killed_at(self) -> float | None:
        marker = self._get(f"{self.store.prefix}{KILLED}")
        return float(marker) if marker is not None else None

    def _get(self, key: str) -> bytes | None:
        with object_store_errors(self.store.url, f"read {key} from bucket {self.store.bucket}"):
            try:
                return self.client.get_object(Bucket=self.store.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None  # a fresh run: nothing there yet
                raise

    def delete_run(self) -> int:
        """Delete every object under the run's prefix; how many are still listed afterwards (0: clean)."""
        with object_store_errors(self.store.url, f"delete the run's objects under {self.where}"):
            keys = self._keys()
            if keys:  # a run writes one or two objects: far below DeleteObjects' 1,000 a call
                batch = [{"Key": key} for key in keys]
                self.client.delete_objects(Bucket=self.store.bucket, Delete={"Objects": batch, "Quiet": True})
            return len(self._keys())

    def _keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.store.bucket, Prefix=self.store.prefix)
        return [obj["Key"] for obj in listed.get("Contents", [])]


# --- the worker -----------------------------------------------------------------------------------
def _model() -> nn.Module:
    torch.manual_seed(0)  # every rank and every restart starts from the same weights
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))


def _batch(step: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic shard of a linear regression task: the same data after a restart."""
    generator = torch.Generator().manual_seed(step * 1000 + rank)
    x = torch.randn(64, 32, generator=generator)
    y = x.sum(dim=1, keepdim=True) / 4
    return x, y


def _record(folder: Path, **event: Any) -> None:
    with (folder / EVENTS).open("a") as out:
        out.write(json.dumps(event | {"t": time.time()}) + "\n")


def _save(checkpoints: Checkpoints, step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[float, int]:
    """Seconds to serialize and write the checkpoint, and its size in bytes."""
    began = time.perf_counter()
    buffer = io.BytesIO()
    torch.save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    blob = buffer.getvalue()
    checkpoints.write(blob)
    return time.perf_counter() - began, len(blob)


def _load(checkpoints: Checkpoints, device: torch.device) -> tuple[dict[str, Any] | None, float]:
    """The latest checkpoint (None on a fresh run) and the seconds it took to read and deserialize."""
    began = time.perf_counter()
    blob = checkpoints.read()
    state = torch.load(io.BytesIO(blob), map_location=device) if blob is not None else None
    return state, time.perf_counter() - began


def worker(folder: Path, steps: int, every: int, kill_rank: int, kill_at: int, store: Store | None) -> None:
    """One rank, as torchrun starts it (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment). `folder` is
    the launcher's: the events for its report and the kill marker; checkpoints go to `store` when given."""
    try:
        checkpoints = StoreCheckpoints(store) if store is not None else FolderCheckpoints(folder)
        _train(folder, checkpoints, steps, every, kill_rank, kill_at)
    except ObjectStoreError as exc:
        # The launcher reports this line; torchrun's own message would be a traceback per rank.
        _record(folder, kind="error", rank=int(os.environ["RANK"]), message=str(exc))
        raise SystemExit(1) from exc


def _join_group(backend: str, round_: int) -> None:
    """Join this round of the group. torchrun's store can outlive a restart of the group: each round keys
    its rendezvous under its own prefix, or the new ranks would read the dead round's addresses. The round
    is what every rank of every node agrees on: whether the one kill has happened (its marker beside the
    checkpoints). The agents' restart counts are no measure in a gang: only the one whose rank died counts."""
    timeout = timedelta(seconds=120)  # a lost peer fails the round, never hangs it
    agent_store = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timeout
    )
    dist.init_process_group(
        backend,
        store=dist.PrefixStore(f"cnai-ddp-round-{round_}/", agent_store),
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        timeout=timeout,
    )


def _train(folder: Path, checkpoints: Checkpoints, steps: int, every: int, kill_rank: int, kill_at: int) -> None:
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    round_ = int(checkpoints.killed_at() is not None)  # the one restart: after the kill
    _join_group(backend, round_)
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if backend == "nccl" else torch.device("cpu")
    model = _model().to(device)
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if backend == "nccl" else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05)
    start = 0
    state, read_s = _load(checkpoints, device)  # every rank reads it: no rank can rely on another's disk
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
    _record(
        folder,
        kind="start",
        rank=rank,
        step=start,
        restart=round_,
        read_s=read_s if state is not None else None,
    )
    loss = torch.tensor(0.0)
    for step in range(start, steps):
        x, y = (t.to(device) for t in _batch(step, rank))
        loss = nn.functional.mse_loss(ddp(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        done = step + 1
        if rank == 0 and done % every == 0:
            write_s, size = _save(checkpoints, done, model, optimizer)
            _record(folder, kind="saved", step=done, write_s=write_s, bytes=size)
        dist.barrier()  # every rank past the checkpoint before the fault below
        if rank == 0 and step == 0:
            _record(folder, kind="first", loss=float(loss.item()))
        if rank == kill_rank and done == kill_at and checkpoints.killed_at() is None:
            checkpoints.mark_killed(time.time())
            _record(folder, kind="killed", rank=rank, step=done)
            os._exit(17)  # the worker dies as a lost node would: no cleanup, no goodbye
    if rank == 0:
        _record(folder, kind="end", step=steps, loss=float(loss.item()))
    dist.destroy_process_group()


# --- the launcher ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gang:
    """This launcher as one node of a multi-node run: every node's launcher meets the others at the
    rendezvous endpoint (the coordinator pod) under the run's id."""

    nodes: int
    rendezvous: str  # host:port
    run_id: str

    def torchrun_arguments(self) -> list[str]:
        return [
            f"--nnodes={self.nodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={self.rendezvous}",
            f"--rdzv-id={self.run_id}",
        ]


def ranks_per_node(device: torch.device, gang: Gang | None) -> int:
    """One rank per GPU; on CPU two ranks on one node, or one per node of a gang."""
    if device.type == "cuda":
        return torch.cuda.device_count()
    return 1 if gang is not None else 2


def ddp(
    device: torch.device, steps: int, every: int, kill_at: int, store: Store | None = None, gang: Gang | None = None
) -> JobResult:
    local = ranks_per_node(device, gang)
    world = local * (gang.nodes if gang is not None else 1)
    info = device_info(device)
    if world < 2:
        return JobResult("ddp", "skip", info, message="one GPU visible: no peer to lose")
    remote = None
    if store is not None:
        try:
            remote = StoreCheckpoints(store)
            remote.reach()  # fail in seconds naming the store, not after torchrun has started and restarted
        except ObjectStoreError as exc:
            return JobResult("ddp", "fail", info, {"checkpoints": store.where}, message=str(exc))
    with tempfile.TemporaryDirectory(prefix="cnai-ddp-") as tmp:
        folder = Path(tmp)
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc-per-node={local}",
            "--max-restarts=1",
            # alone: a local rendezvous on a free port, new for each restart of the group
            *(gang.torchrun_arguments() if gang is not None else ["--standalone"]),
            "-m",
            "smoke_tests.jobs.ddp",
            "--worker",
            str(folder),
            str(steps),
            str(every),
            str(world - 1),
            str(kill_at),
            *([json.dumps(asdict(store))] if store is not None else []),
        ]
        killed_at = None
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
            if remote is not None and gang is not None:  # the rank killed may have been another node's
                killed_at = _killed_at(remote)
        finally:  # a run that crashed or timed out still leaves nothing in the bucket
            leftover = _clean(remote) if remote is not None else None
        events = (
            [json.loads(line) for line in (folder / EVENTS).read_text().splitlines()]
            if (folder / EVENTS).exists()
            else []
        )
    where = store.where if store is not None else str(folder)  # the folder is gone now: a name, for the record
    if killed_at is not None and not any(e["kind"] == "killed" for e in events):
        events.append({"kind": "killed", "t": killed_at})
    verdict = _verdict(info, done, events, steps, every, kill_at, where=where, leftover=leftover, whole=gang is None)
    if gang is not None:
        verdict.metrics |= {"nodes": gang.nodes, "world": world}
    return verdict


def _killed_at(remote: StoreCheckpoints) -> float | None:
    try:
        return remote.killed_at()
    except ObjectStoreError:
        return None  # the verdict goes without resume_s; _clean says what the store refused


def _clean(remote: StoreCheckpoints) -> str | None:
    """What could not be deleted of the run's objects, in one line; None when nothing is left."""
    try:
        left = remote.delete_run()
    except ObjectStoreError as exc:
        return str(exc)
    return f"{left} object(s) left under {remote.where} after deleting the run's objects" if left else None


def _verdict(
    info: dict[str, Any],
    done: subprocess.CompletedProcess,
    events: list[dict],
    steps: int,
    every: int,
    kill_at: int,
    *,
    where: str,
    leftover: str | None = None,
    whole: bool = True,
) -> JobResult:
    """The run's figures and its status, from what the ranks recorded. `where` is the checkpoints' place
    (s3://bucket/prefix or a folder); `leftover` says what of the run's objects could not be deleted.
    `whole`: these events are every rank's; a node of a gang sees its own ranks' only, and rank 0 (which
    records the first and last loss) may be another node's."""
    starts = [e for e in events if e["kind"] == "start"]
    end = next((e for e in events if e["kind"] == "end"), None)
    first = next((e for e in events if e["kind"] == "first"), None)
    killed = next((e for e in events if e["kind"] == "killed"), None)
    error = next((e for e in events if e["kind"] == "error"), None)
    saves = [e for e in events if e["kind"] == "saved"]
    restarts = sorted({e["restart"] for e in starts})
    resumed = [e for e in starts if e["restart"] > 0]
    resumed_from = min((e["step"] for e in resumed), default=None)
    reads = [e["read_s"] for e in resumed if e.get("read_s") is not None]
    metrics: dict[str, Any] = {
        "checkpoints": where,
        "ranks": len([e for e in starts if e["restart"] == 0]),
        "steps": steps,
        "killed_at_step": kill_at,
        "resumed_from_step": resumed_from,
        "restarts": len(restarts) - 1,
        "first_loss": first["loss"] if first else None,
        "final_loss": end["loss"] if end else None,
        "checkpoint_writes": len(saves),
    }
    if resumed and killed:  # from the worker's death to the restarted group's first step, checkpoint read included
        metrics["resume_s"] = round(min(e["t"] for e in resumed) - killed["t"], 2)
    if saves:
        metrics["checkpoint_write_s"] = round(statistics.mean(e["write_s"] for e in saves), 4)
        metrics["checkpoint_bytes"] = saves[-1]["bytes"]
    if reads:  # the slowest rank's read: the group waits for it
        metrics["checkpoint_read_s"] = round(max(reads), 4)
    if where.startswith("s3://"):
        metrics["checkpoints_deleted"] = leftover is None
    expected_resume = kill_at - kill_at % every
    if done.returncode != 0 or (whole and end is None):
        # A rank's own one-line reason (the object store) reads better than torchrun's tail of tracebacks.
        message = error["message"] if error else f"torchrun exited {done.returncode}: {done.stderr.strip()[-600:]}"
        return JobResult("ddp", "fail", info, metrics, message=message)
    if resumed_from != expected_resume:
        message = f"resumed from step {resumed_from}, the last checkpoint was step {expected_resume}"
        return JobResult("ddp", "fail", info, metrics, message=message)
    if (whole and first is None) or (first and end and end["loss"] >= first["loss"]):
        return JobResult("ddp", "fail", info, metrics, message="the loss did not fall over the run")
    if leftover is not None:
        return JobResult("ddp", "fail", info, metrics, message=leftover)
    message = f"a rank killed at step {kill_at}; resumed from {resumed_from}"
    if "resume_s" in metrics:
        message += f" {metrics['resume_s']} s later"
    return JobResult("ddp", "pass", info, metrics, message=f"{message}; checkpoints in {where}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        folder, steps, every, kill_rank, kill_at = argv[1:6]
        store = Store(**json.loads(argv[6])) if len(argv) > 6 else None
        worker(Path(folder), int(steps), int(every), int(kill_rank), int(kill_at), store)
        return 0
    p = parser(__doc__ or "")
    add_s3_arguments(p, bucket=MODELS_BUCKET, without="checkpoints go to a local temporary folder")
    p.add_argument("--nnodes", type=int, default=1, help="nodes of a gang, each running this launcher")
    p.add_argument("--rdzv-endpoint", help="host:port where a gang's launchers meet (the coordinator pod)")
    p.add_argument("--run-id", help="one id for every node of a gang (its checkpoints' folder in the bucket)")
    args = p.parse_args(argv)
    gang = None
    if args.nnodes > 1:
        missing = [f"--{k.replace('_', '-')}" for k in ("s3_url", "rdzv_endpoint", "run_id") if not getattr(args, k)]
        if missing:  # nodes share no disk, and must find each other and the same run
            p.error(f"--nnodes {args.nnodes} needs {', '.join(missing)}")
        gang = Gang(args.nnodes, args.rdzv_endpoint, args.run_id)
    elif args.nnodes < 1:
        p.error(f"--nnodes must be at least 1, got {args.nnodes}")
    steps = 60 if args.quick else 300
    run_id = args.run_id or uuid.uuid4().hex[:8]
    store = (
        Store(args.s3_url, args.s3_region, args.bucket, run_prefix(run_id), args.s3_credentials_file)
        if args.s3_url
        else None
    )
    return run_job("ddp", lambda d: ddp(d, steps, every=10, kill_at=steps // 2 + 5, store=store, gang=gang))


if __name__ == "__main__":
    sys.exit(main())
