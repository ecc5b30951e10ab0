"""ddp: data-parallel training that survives losing a worker. torchrun starts the ranks (one per local GPU
on NCCL, 2 on CPU over gloo); rank 0 checkpoints model and optimizer every few steps, atomically; a
worker killed mid-run (`--kill-rank-at-step`, once) makes torchrun restart the group, which resumes
from the last checkpoint and finishes. The result says where it resumed, how long the restart took and
whether the loss fell. The same worker code is what a multi-node gang runs on a cluster (JobSet); only
the launcher's node count differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from smoke_tests.jobs.common import device_info, parser, run_job
from smoke_tests.result import JobResult

CHECKPOINT = "checkpoint.pt"
EVENTS = "events.jsonl"  # what each rank start and the run's end record, for the report


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


def _save(folder: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    tmp = folder / f"{CHECKPOINT}.tmp"
    torch.save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp)
    tmp.replace(folder / CHECKPOINT)  # a crash mid-write leaves the previous checkpoint whole


def worker(folder: Path, steps: int, every: int, kill_rank: int, kill_at: int) -> None:
    """One rank, as torchrun starts it (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment)."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    # The launcher's store outlives a restart of the group: each round keys its rendezvous under its own
    # prefix, or the new ranks would read the dead round's addresses and fail to connect.
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))
    agent_store = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timedelta(seconds=120)
    )
    dist.init_process_group(
        backend,
        store=dist.PrefixStore(f"cnai-ddp-round-{restart}/", agent_store),
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        timeout=timedelta(seconds=120),  # a lost peer fails the round, never hangs it
    )
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if backend == "nccl" else torch.device("cpu")
    model = _model().to(device)
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if backend == "nccl" else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05)
    start = 0
    if (folder / CHECKPOINT).is_file():
        state = torch.load(folder / CHECKPOINT, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
    _record(folder, kind="start", rank=rank, step=start, restart=restart)
    loss = torch.tensor(0.0)
    for step in range(start, steps):
        x, y = (t.to(device) for t in _batch(step, rank))
        loss = nn.functional.mse_loss(ddp(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        done = step + 1
        if rank == 0 and done % every == 0:
            _save(folder, done, model, optimizer)
        dist.barrier()  # every rank past the checkpoint before the fault below
        marker = folder / "killed"
        if rank == 0 and step == 0:
            _record(folder, kind="first", loss=float(loss.item()))
        if rank == kill_rank and done == kill_at and not marker.exists():
            marker.touch()
            _record(folder, kind="killed", rank=rank, step=done)
            os._exit(17)  # the worker dies as a lost node would: no cleanup, no goodbye
    if rank == 0:
        _record(folder, kind="end", step=steps, loss=float(loss.item()))
    dist.destroy_process_group()


def ddp(device: torch.device, steps: int, every: int, kill_at: int) -> JobResult:
    world = torch.cuda.device_count() if device.type == "cuda" else 2
    info = device_info(device)
    if world < 2:
        return JobResult("ddp", "skip", info, message="one GPU visible: no peer to lose")
    with tempfile.TemporaryDirectory(prefix="cnai-ddp-") as tmp:
        folder = Path(tmp)
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc-per-node={world}",
            "--max-restarts=1",
            "--standalone",  # a local rendezvous on a free port, new for each restart of the group
            "-m",
            "smoke_tests.jobs.ddp",
            "--worker",
            str(folder),
            str(steps),
            str(every),
            str(world - 1),
            str(kill_at),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        events = (
            [json.loads(line) for line in (folder / EVENTS).read_text().splitlines()]
            if (folder / EVENTS).exists()
            else []
        )
    return _verdict(info, done, events, steps, every, kill_at)


def _verdict(
    info: dict[str, Any], done: subprocess.CompletedProcess, events: list[dict], steps: int, every: int, kill_at: int
) -> JobResult:
    starts = [e for e in events if e["kind"] == "start"]
    end = next((e for e in events if e["kind"] == "end"), None)
    first = next((e for e in events if e["kind"] == "first"), None)
    killed = next((e for e in events if e["kind"] == "killed"), None)
    restarts = sorted({e["restart"] for e in starts})
    resumed = [e for e in starts if e["restart"] > 0]
    resumed_from = min((e["step"] for e in resumed), default=None)
    metrics = {
        "ranks": len([e for e in starts if e["restart"] == 0]),
        "steps": steps,
        "killed_at_step": kill_at,
        "resumed_from_step": resumed_from,
        "restarts": len(restarts) - 1,
        "first_loss": first["loss"] if first else None,
        "final_loss": end["loss"] if end else None,
    }
    if resumed and killed:  # from the worker's death to the restarted group's first step
        metrics["resume_s"] = round(min(e["t"] for e in resumed) - killed["t"], 2)
    expected_resume = kill_at - kill_at % every
    if done.returncode != 0 or end is None:
        message = f"torchrun exited {done.returncode}: {done.stderr.strip()[-600:]}"
        return JobResult("ddp", "fail", info, metrics, message=message)
    if resumed_from != expected_resume:
        message = f"resumed from step {resumed_from}, the last checkpoint was step {expected_resume}"
        return JobResult("ddp", "fail", info, metrics, message=message)
    if first is None or end["loss"] >= first["loss"]:
        return JobResult("ddp", "fail", info, metrics, message="the loss did not fall over the run")
    return JobResult(
        "ddp", "pass", info, metrics, message=f"a rank killed at step {kill_at}; resumed from {resumed_from}"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        folder, steps, every, kill_rank, kill_at = argv[1:6]
        worker(Path(folder), int(steps), int(every), int(kill_rank), int(kill_at))
        return 0
    args = parser(__doc__ or "").parse_args(argv)
    steps = 60 if args.quick else 300
    return run_job("ddp", lambda d: ddp(d, steps, every=10, kill_at=steps // 2 + 5))


if __name__ == "__main__":
    sys.exit(main())
