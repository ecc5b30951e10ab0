"""What every smoke job shares: device choice, timing, the accelerator it runs on, the result line."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from modules.spec.accelerators import Accelerator, identify
from smoke_tests.result import JobResult


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def device_info(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {
            "type": "cuda",
            "name": props.name,
            "count": torch.cuda.device_count(),
            "memory_gb": round(props.total_memory / 1e9, 1),
            "cuda": torch.version.cuda,
            "torch": torch.__version__,
        }
    return {
        "type": "cpu",
        "name": platform.processor() or platform.machine(),
        "count": 1,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def accelerator_of(device: torch.device) -> Accelerator | None:
    return identify(torch.cuda.get_device_name(device)) if device.type == "cuda" else None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_it(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Mean seconds per call: CUDA events on GPU, a monotonic clock on CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000 / repeats
    begin = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - begin) / repeats


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smaller sizes (CI on CPU)")
    return p


def emit(result: JobResult) -> int:
    """Print the result line; exit 0 unless the job failed."""
    sys.stdout.write(result.line() + "\n")
    sys.stdout.flush()
    return 1 if result.status == "fail" else 0


def run_job(name: str, body: Callable[[torch.device], JobResult]) -> int:
    """Run a job body; an unexpected error still yields a result line (status fail)."""
    device = pick_device()
    began = time.perf_counter()
    try:
        result = body(device)
    except Exception as exc:  # a crashed job must still report, in one parseable line
        result = JobResult(name, "fail", device_info(device), message=f"{type(exc).__name__}: {exc}")
    result.timings.setdefault("total_s", round(time.perf_counter() - began, 3))
    return emit(result)
