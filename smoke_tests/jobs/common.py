"""What every smoke job shares: device choice, timing, the accelerator it runs on, the result line, and
the object store client of the jobs that read or write objects."""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import torch
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from modules.spec.accelerators import Accelerator, identify
from smoke_tests.jobs.telemetry import send_span
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


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, interpolated between the two nearest samples (never beyond the largest)."""
    if not values:
        raise ValueError("no samples")
    return float(np.percentile(values, q))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - began


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smaller sizes (CI on CPU)")
    return p


class ObjectStoreError(Exception):
    """The object store could not be reached or refused: a job reports it as one line naming the store."""


def add_s3_arguments(p: argparse.ArgumentParser, bucket: str, without: str) -> None:
    """The object store flags every job that uses one takes; `without` says what the job does instead."""
    p.add_argument("--s3-url", help=f"object store; without it {without}")
    p.add_argument("--s3-region", default="us-east-1")
    p.add_argument("--s3-credentials-file", help="JSON with access_key and secret_key (else AWS_* variables)")
    p.add_argument("--bucket", default=bucket)


def s3_client(url: str, region: str, credentials_file: str | None) -> Any:
    """boto3 with the credentials file's keys, else boto3's own chain (AWS_* variables in a pod)."""
    keys: dict[str, str] = {}
    if credentials_file:
        try:
            data = json.loads(Path(credentials_file).read_text())
            keys = {"aws_access_key_id": data["access_key"], "aws_secret_access_key": data["secret_key"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ObjectStoreError(
                f"object_storage: S3 credentials file {credentials_file}: {type(exc).__name__}: {exc}"
            ) from exc
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=region,
        # Few, short retries: an unreachable store fails a smoke job in seconds, not minutes.
        config=BotoConfig(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=60),
        **keys,
    )


@contextlib.contextmanager
def object_store_errors(url: str | None, action: str) -> Iterator[None]:
    """A boto3 error becomes one line naming the object store, its URL and what could not be done."""
    try:
        yield
    except (BotoCoreError, ClientError, OSError) as exc:
        raise ObjectStoreError(f"object_storage at {url}: could not {action}: {type(exc).__name__}: {exc}") from exc


def emit(result: JobResult) -> int:
    """Print the result line; exit 0 unless the job failed."""
    sys.stdout.write(result.line() + "\n")
    sys.stdout.flush()
    return 1 if result.status == "fail" else 0


class JobFailure(Exception):
    """A failure a job reports as its message, in one line (bad input, a missing package, a server that
    does not answer): run_job makes it the result's message as it is."""


def run_job(name: str, body: Callable[[torch.device], JobResult]) -> int:
    """Run a job body; its own failure, or an unexpected error, still yields a result line (status fail)
    and, where the platform takes traces, a span."""
    device = pick_device()
    began, started_ns = time.perf_counter(), time.time_ns()
    try:
        result = body(device)
    except JobFailure as exc:
        result = JobResult(name, "fail", device_info(device), message=str(exc))
    except Exception as exc:  # a crashed job must still report, in one parseable line
        result = JobResult(name, "fail", device_info(device), message=f"{type(exc).__name__}: {exc}")
    result.timings.setdefault("total_s", round(time.perf_counter() - began, 3))
    send_span(result, started_ns, time.time_ns())
    return emit(result)
