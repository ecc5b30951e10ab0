"""`cnai smoke sim`: the cluster smoke run against the real control plane, Kueue and KServe.

One run for every emulated environment (module scope); the tests read what it saw - the report's
checks and each Job's outcome - rather than re-running it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from modules.cluster.smoke import NO_CONTAINERS
from modules.components.kueue import flavor_name
from modules.components.smoke_jobs import SUITE_JOB, smoke_jobs
from modules.sim.runtime import SimRuntime
from modules.sim.smoke import run_smoke
from modules.spec.models import POOL_LABEL

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def report(sim: SimRuntime, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sim-smoke")
    result = run_smoke(sim.client(), sim.specs, out, Console(stderr=True))
    result["out"] = out
    return result


def _checks(report: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"] if c["name"].startswith(prefix)}


def test_report_files_are_written_like_local(report: dict[str, Any]):
    out: Path = report["out"]
    for name in ("report.json", "junit.xml", "report.html"):
        assert (out / name).is_file()
    assert json.loads((out / "report.json").read_text())["summary"] == report["summary"]
    assert report["summary"]["failed"] == 0, [c for c in report["checks"] if c["outcome"] == "failed"]


def test_every_pools_smoke_jobs_are_admitted_into_its_flavor_placed_on_its_nodes_and_completed(
    sim: SimRuntime, report: dict[str, Any]
):
    checks = _checks(report, "test_cluster_jobs::")
    for spec in sim.specs:
        for job in smoke_jobs(spec):
            pool = job["spec"]["template"]["spec"]["nodeSelector"][POOL_LABEL]
            label = f"[{spec.name}/{pool}/{job['metadata']['name']}]"
            admitted = checks[f"test_cluster_jobs::test_admitted{label}"]
            queue = job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"]
            assert admitted["outcome"] == "passed", admitted
            assert f"ClusterQueue {queue}, flavor {flavor_name(spec.pool(pool))}" in admitted["message"]
            placed = checks[f"test_cluster_jobs::test_placed{label}"]
            assert placed["outcome"] == "passed" and f"(pool {pool})" in placed["message"], placed
            assert checks[f"test_cluster_jobs::test_completed{label}"]["outcome"] == "passed"


def test_the_report_summarises_each_pool(sim: SimRuntime, report: dict[str, Any]):
    per_pool = report["endpoints"]["GPU jobs per pool"]
    for spec in sim.specs:
        for pool in {j["spec"]["template"]["spec"]["nodeSelector"][POOL_LABEL] for j in smoke_jobs(spec)}:
            jobs = sum(j["spec"]["template"]["spec"]["nodeSelector"][POOL_LABEL] == pool for j in smoke_jobs(spec))
            assert per_pool[f"{spec.name}/{pool}"].startswith(f"{jobs}/{jobs} admitted"), per_pool


def test_gpu_results_are_not_invented_where_no_container_ran(report: dict[str, Any]):
    results = _checks(report, "test_gpu_jobs::")
    assert results and all(c["outcome"] == "skipped" and c["message"] == NO_CONTAINERS[:300] for c in results.values())
    assert (report["out"] / "results.jsonl").read_text() == ""


def test_the_suite_job_is_queued_and_placed_in_the_first_teams_namespace(sim: SimRuntime, report: dict[str, Any]):
    checks = _checks(report, "test_cluster_jobs::")
    for spec in sim.specs:
        admitted = checks[f"test_cluster_jobs::test_admitted[{spec.name}/{SUITE_JOB}]"]
        assert admitted["outcome"] == "passed" and f"ClusterQueue {spec.teams[0].name}" in admitted["message"]
        assert checks[f"test_cluster_jobs::test_completed[{spec.name}/{SUITE_JOB}]"]["outcome"] == "passed"


def test_the_platforms_inference_service_becomes_a_deployment_with_cnais_runtime(
    sim: SimRuntime, report: dict[str, Any]
):
    serving = _checks(report, "test_serving::")
    mlp = {f"test_serving::test_platform_inference_service[{s.name}]" for s in sim.specs}
    assert mlp <= set(serving)
    for name in mlp:
        check = serving[name]
        assert check["outcome"] == "passed", check
        assert "(Available)" in check["message"] and "created by KServe" in check["message"]
        assert "mlserver" in check["message"]


def test_the_llm_service_runs_vllm_on_its_pool_and_kserve_makes_its_keda_scaler(
    sim: SimRuntime, report: dict[str, Any]
):
    """The emulated environments serve an LLM on a GPU pool and run Prometheus: the real KServe
    controller turns the smoke LLM into a vLLM Deployment placed on the pool's node and, from its
    autoscalerClass, a KEDA ScaledObject carrying cnai's Prometheus trigger (KEDA's CRD is the chart's)."""
    serving = _checks(report, "test_serving::")
    for spec in sim.specs:
        llm = serving[f"test_serving::test_platform_llm_service[{spec.name}]"]
        assert llm["outcome"] == "passed" and "vllm" in llm["message"], llm
        scaler = serving[f"test_serving::test_llm_predictor_scales_on_its_queue[{spec.name}]"]
        assert scaler["outcome"] == "passed" and "prometheus trigger" in scaler["message"], scaler
