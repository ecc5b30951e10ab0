"""The GPU jobs, in stages: inventory gates correctness, which gates the performance jobs.

On CPU the same jobs run small and pass on correctness; GPU thresholds apply only on a GPU.
"""

from __future__ import annotations

import pytest
import torch

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import JobRunner, assert_passed

QUICK = () if torch.cuda.is_available() else ("--quick",)


def inventory_args(endpoints: Endpoints) -> list[str]:
    """On a GPU pool, the expected product and count come from the spec (through the endpoints)."""
    if not torch.cuda.is_available() or not endpoints.gpu_pools:
        return []
    pool = endpoints.gpu_pools[0]
    return ["--expected-accelerator", pool.accelerator, "--expected-count", str(pool.gpus_per_node)]


def test_inventory(jobs: JobRunner, endpoints: Endpoints):
    assert_passed(jobs.run("inventory", *inventory_args(endpoints)))


def test_correctness(jobs: JobRunner):
    assert_passed(jobs.run("correctness", *QUICK, after=("inventory",)))


@pytest.mark.parametrize("job", ["gemm", "membw", "allreduce", "ddp"])
def test_performance(jobs: JobRunner, job: str):
    result = jobs.run(job, *QUICK, after=("inventory", "correctness"))
    if result.status == "skip":
        pytest.skip(result.message)
    assert_passed(result)


def test_gemm_spread(jobs: JobRunner):
    """The node's GPUs against each other (slowest >= GEMM_SPREAD_RATIO x the median), on its own line
    of the report; skipped with the job's reason where there is nothing to compare (CPU only, one GPU)."""
    gemm = jobs.results.get("gemm")
    if gemm is None or "spread" not in gemm.metrics:
        pytest.skip("blocked by gemm (not run)")
    spread = gemm.metrics["spread"]
    if spread["status"] == "skip":
        pytest.skip(spread["reason"])
    assert spread["status"] == "pass", f"gemm spread: {spread['reason']} - by device {gemm.metrics['tflops_by_device']}"
