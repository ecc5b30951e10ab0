"""The cluster smoke run's verdicts from what the cluster reported (pure: JobOutcome -> checks); the
run against a real API server is tests/sim/test_smoke_run.py and tests/sim/test_lifecycle_smoke.py."""

from __future__ import annotations

import json

from modules.cluster.smoke import NO_CONTAINERS, JobOutcome, collect, job_checks
from modules.components.smoke_jobs import SUITE_JOB
from smoke_tests.result import JobResult
from smoke_tests.runner import REPORT_MARKER


def gpu_job(**changes) -> JobOutcome:
    outcome = JobOutcome(
        name="cnai-smoke-h100-gemm",
        namespace="team-research",
        queue="research",
        pool="h100",
        expected_flavor="gpu-h100",
        admitted=True,
        cluster_queue="research",
        flavors={"nvidia.com/gpu": "gpu-h100"},
        nodes={"node-1": "h100"},
        finished="Complete",
    )
    for key, value in changes.items():
        setattr(outcome, key, value)
    return outcome


def verdicts(outcome: JobOutcome, simulated: bool = False) -> dict[str, tuple[str, str]]:
    return {c.name.split("::")[1].split("[")[0]: (c.outcome, c.message) for c in job_checks(outcome, simulated)}


def result_line(status: str) -> str:
    return JobResult("gemm", status, {"name": "H100"}, {"tflops": 700.0}, ratio_to_peak=0.7).line()


def test_a_job_admitted_placed_completed_with_a_passing_result_is_green():
    found = verdicts(gpu_job(log="noise\n" + result_line("pass")))
    assert {name: outcome for name, (outcome, _) in found.items()} == {
        "test_admitted": "passed",
        "test_placed": "passed",
        "test_completed": "passed",
        "test_result": "passed",
    }
    assert "ClusterQueue research, flavor gpu-h100" in found["test_admitted"][1]


def test_the_wrong_flavor_or_pool_fails_naming_what_was_expected():
    found = verdicts(gpu_job(flavors={"nvidia.com/gpu": "gpu-a10"}, nodes={"node-9": "a10"}))
    assert (
        found["test_admitted"][0] == "failed"
        and "expected ClusterQueue research, flavor gpu-h100" in found["test_admitted"][1]
    )
    assert found["test_placed"] == ("failed", "on nodes of other pools: {'node-9': 'a10'}")


def test_a_pending_job_names_kueues_reason_and_the_schedulers():
    found = verdicts(
        gpu_job(
            admitted=False,
            cluster_queue=None,
            flavors={},
            nodes={},
            finished=None,
            pending_message="insufficient unused quota for nvidia.com/gpu in flavor gpu-h100, 8 more needed",
            unschedulable=["0/4 nodes are available: 4 Insufficient nvidia.com/gpu"],
        )
    )
    assert found["test_admitted"] == (
        "failed",
        "not admitted: insufficient unused quota for nvidia.com/gpu in flavor gpu-h100, 8 more needed",
    )
    assert found["test_placed"][1] == "not bound: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu"
    assert found["test_completed"] == ("failed", "did not finish in time")


def test_a_missing_result_fails_on_a_cluster_and_is_skipped_where_no_container_runs():
    assert verdicts(gpu_job(log=""))["test_result"][0] == "failed"
    assert verdicts(gpu_job(log=""), simulated=True)["test_result"] == ("skipped", NO_CONTAINERS[:300])
    assert verdicts(gpu_job(log=result_line("fail")))["test_result"][0] == "failed"


def test_the_suites_own_checks_and_jobs_are_merged_into_the_run():
    report = {
        "checks": [{"name": "test_mlflow::test_x", "outcome": "passed", "seconds": 1.0, "message": "", "cause": ""}],
        "jobs": [{"name": "train", "status": "pass", "device": {}, "metrics": {}, "expected": {}}],
    }
    suite = JobOutcome(SUITE_JOB, "team-research", "research", None, None, admitted=True, cluster_queue="research")
    suite.nodes, suite.finished = {"cpu-1": None}, "Complete"
    suite.log = "collected\n" + REPORT_MARKER + json.dumps(report)
    checks, results = collect([suite, gpu_job(log=result_line("pass"))], simulated=False)
    names = {c.name for c in checks}
    assert "test_mlflow::test_x" in names and f"test_cluster_jobs::test_placed[{SUITE_JOB}]" in names
    assert [json.loads(line)["name"] for line in results] == ["gemm", "train"]
