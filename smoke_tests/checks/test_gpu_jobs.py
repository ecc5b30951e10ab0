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
