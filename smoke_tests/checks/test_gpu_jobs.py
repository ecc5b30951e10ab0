"""The GPU jobs, in stages: inventory gates correctness, which gates the performance jobs.

On CPU the same jobs run small and pass on correctness; GPU thresholds apply only on a GPU.
"""

from __future__ import annotations

import json

import pytest
import torch

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import JobRunner, assert_passed, store_args
from smoke_tests.jobs.ddp import MODELS_BUCKET

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


@pytest.mark.parametrize("job", ["gemm", "membw", "allreduce"])
def test_performance(jobs: JobRunner, job: str):
    result = jobs.run(job, *QUICK, after=("inventory", "correctness"))
    if result.status == "skip":
        pytest.skip(result.message)
    assert_passed(result)


def ddp_args(endpoints: Endpoints) -> list[str]:
    """Checkpoints go to the object store where the environment has one, as a multi-node gang's must (its
    nodes share no disk): the models bucket if there is one (a checkpoint is a model in the making), else
    the first. Without a store the job checkpoints to a local folder."""
    store = endpoints.object_store
    if endpoints.components.get("object_storage") != "enabled" or store is None or not store.buckets:
        return []
    bucket = MODELS_BUCKET if MODELS_BUCKET in store.buckets else store.buckets[0]
    return store_args(store, bucket)


def test_ddp(jobs: JobRunner, endpoints: Endpoints):
    """Training that survives a killed worker, resuming from the last checkpoint (in the object store when
    there is one); after the performance jobs, as it was when it was one of them."""
    result = jobs.run("ddp", *QUICK, *ddp_args(endpoints), after=("inventory", "correctness"))
    if result.status == "skip":
        pytest.skip(result.message)
    if result.status == "fail":  # the job's one line (an unreachable object store named as such), no traceback
        pytest.fail(f"ddp: {result.message} - {json.dumps(result.metrics, default=str)[:800]}", pytrace=False)


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
