"""The one-JSON-line result contract and the report built from it."""

from __future__ import annotations

import json

from smoke_tests.report import build_report
from smoke_tests.result import JobResult, parse_results

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="smoke_tests.checks.test_gpu_jobs" name="test_gemm" time="1.5"/>
<testcase classname="smoke_tests.checks.test_vector_db" name="test_recall" time="0.1">
<skipped message="vector_db is disabled in environment x"/></testcase>
<testcase classname="smoke_tests.checks.test_mlflow" name="test_run" time="0.2">
<failure message="mlflow unreachable at http://127.0.0.1:5000: ConnectError">trace</failure></testcase>
</testsuite></testsuites>"""


def gemm_result() -> JobResult:
    return JobResult("gemm", "pass", {"type": "cuda", "name": "NVIDIA H200"}, {"tflops": 790.0}, {}, 0.8)


def test_result_line_round_trips_through_noisy_logs():
    log = f"NCCL INFO ring 0\n{gemm_result().line()}\nsome other line {{not json}}\n"
    [parsed] = parse_results(log)
    assert parsed == gemm_result()


def test_report_has_json_html_and_plots(tmp_path):
    inference = JobResult(
        "inference",
        "pass",
        {"type": "cpu"},
        {"latency_ms_p50": 2.0, "latency_ms_p99": 5.0, "throughput_rps": 400, "latencies_ms": [1.5, 2.0, 2.2, 5.0]},
    )
    (tmp_path / "results.jsonl").write_text(gemm_result().line() + "\n" + inference.line() + "\n")
    (tmp_path / "junit.xml").write_text(JUNIT)
    report = build_report(tmp_path, "x", 12.5)
    assert report["summary"] == {"passed": 1, "failed": 1, "skipped": 1}
    failed = next(c for c in report["checks"] if c["outcome"] == "failed")
    assert "mlflow unreachable at http://127.0.0.1:5000" in failed["message"]
    assert json.loads((tmp_path / "report.json").read_text())["jobs"][0]["ratio_to_peak"] == 0.8
    assert (tmp_path / "gpu-ratio-to-peak.png").stat().st_size > 1000
    assert (tmp_path / "inference-latency.png").stat().st_size > 1000
    html = (tmp_path / "report.html").read_text()
    assert "gpu-ratio-to-peak.png" in html and "NVIDIA H200" in html


def test_a_job_runs_as_a_pod_would(tmp_path):
    """`python -m smoke_tests.jobs.<job>`: one result line on stdout, exit code from its status."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "smoke_tests.jobs.correctness", "--quick"], capture_output=True, text=True
    )
    [result] = parse_results(proc.stdout)
    assert proc.returncode == 0 and result.name == "correctness" and result.status == "pass"
    assert result.metrics["bf16_repeat_mismatches"] == 0
