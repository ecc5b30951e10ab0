"""allreduce: torch.distributed all_reduce over every local GPU (NCCL) or 2 CPU ranks (gloo).

Bus bandwidth = algbw x 2(n-1)/n (nccl-tests); every result is checked. One process per local GPU
(or 2 on CPU). The multi-node variant (a gang across nodes) is not built yet.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from smoke_tests.jobs.common import accelerator_of, device_info, parser, run_job, synchronize
from smoke_tests.result import JobResult
from smoke_tests.thresholds import allreduce_busbw, allreduce_verdict


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _measure(rank: int, world: int, device: torch.device, sizes: list[int], repeats: int) -> dict[str, Any]:
    """all_reduce each size `repeats` times; returns busbw by size and whether every sum was right."""
    expected_sum = world * (world + 1) / 2
    busbw, correct = {}, True
    for nbytes in sizes:
        tensor = torch.full((nbytes // 4,), float(rank + 1), device=device)
        dist.all_reduce(tensor)  # warm-up, and the correctness check
        correct &= bool(torch.all(tensor == expected_sum).item())
        dist.barrier()
        synchronize(device)
        began = time.perf_counter()
        for _ in range(repeats):
            dist.all_reduce(tensor)
        synchronize(device)
        seconds = (time.perf_counter() - began) / repeats
        busbw[str(nbytes)] = round(allreduce_busbw(nbytes, seconds, world), 3)
    return {"busbw_gbs_by_bytes": busbw, "correct": correct}


def _rank_main(rank: int, world: int, port: int, sizes: list[int], repeats: int, queue: Any) -> None:
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        result = _measure(rank, world, device, sizes, repeats)
    finally:
        dist.destroy_process_group()
    if rank == 0:
        queue.put(result)


def allreduce(device: torch.device, sizes: list[int], repeats: int) -> JobResult:
    world = torch.cuda.device_count() if device.type == "cuda" else 2
    info = device_info(device)
    if world < 2:
        return JobResult("allreduce", "skip", info, message="one GPU visible: nothing to reduce across")
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.start_processes(
        _rank_main, args=(world, _free_port(), sizes, repeats, queue), nprocs=world, start_method="spawn"
    )
    measured = queue.get()
    peak_busbw = max(measured["busbw_gbs_by_bytes"].values())
    verdict = allreduce_verdict(peak_busbw, world, accelerator_of(device))
    status = verdict.status if measured["correct"] else "fail"
    return JobResult(
        "allreduce",
        status,
        info,
        metrics={
            "ranks": world,
            "backend": "nccl" if device.type == "cuda" else "gloo",
            "busbw_gbs": peak_busbw,
            **measured,
        },
        expected=verdict.expected,
        ratio_to_peak=verdict.ratio,
        message=verdict.reason if measured["correct"] else "all_reduce returned wrong sums",
    )


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    on_gpu = torch.cuda.is_available()
    top = (1 << 30) if on_gpu and not args.quick else (16 << 20)
    sizes = [s for s in (1 << 20, 16 << 20, 256 << 20, 1 << 30) if s <= top]
    os.environ.setdefault("NCCL_DEBUG", "WARN")
    return run_job("allreduce", lambda d: allreduce(d, sizes, 20 if on_gpu else 3))


if __name__ == "__main__":
    sys.exit(main())
