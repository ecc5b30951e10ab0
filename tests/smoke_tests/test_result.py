"""The one-JSON-line result contract and the report built from it."""

from __future__ import annotations

import json
from pathlib import Path

from smoke_tests.report import build_report
from smoke_tests.result import JobResult, parse_results
from tests.smoke_tests.browser import load_report

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="smoke_tests.checks.test_gpu_jobs" name="test_gemm" time="1.5"/>
<testcase classname="smoke_tests.checks.test_vector_db" name="test_recall" time="0.1">
<skipped message="vector_db is disabled in environment x"/></testcase>
<testcase classname="smoke_tests.checks.test_mlflow" name="test_run" time="0.2">
<failure message="mlflow unreachable at http://127.0.0.1:5000: ConnectError">trace line 1
trace line 2</failure></testcase>
</testsuite></testsuites>"""


def gemm_result() -> JobResult:
    return JobResult("gemm", "pass", {"type": "cuda", "name": "NVIDIA H200"}, {"tflops": 790.0}, {}, 0.8)


def test_result_line_round_trips_through_noisy_logs():
    log = f"NCCL INFO ring 0\n{gemm_result().line()}\nsome other line {{not json}}\n"
    [parsed] = parse_results(log)
    assert parsed == gemm_result()


def h200_gemm() -> JobResult:
    expected = {"peak_tflops": 989.0, "pass_tflops": 593.4}
    return JobResult("gemm", "pass", {"type": "cuda", "name": "NVIDIA H200"}, {"tflops": 790.0}, expected, 0.8)


def write_run(folder: Path) -> None:
    """A run's raw outputs: result lines of three jobs and a JUnit file with a pass, a skip and a failure."""
    inference = JobResult(
        "inference",
        "pass",
        {"type": "cpu"},
        {"latency_ms_p50": 2.0, "latency_ms_p99": 5.0, "throughput_rps": 400, "latencies_ms": [1.5, 2.0, 2.2, 5.0]},
    )
    train = JobResult(
        "train", "pass", {"type": "cpu"}, {"final_loss": 0.01, "loss_curve": [1.0, 0.1, 0.01], "loss_every": 10}
    )
    lines = [h200_gemm(), gemm_result(), inference, train]
    (folder / "results.jsonl").write_text("".join(j.line() + "\n" for j in lines))
    (folder / "junit.xml").write_text(JUNIT)


ENDPOINTS = {
    "target": "local",
    "mlflow_url": "http://admin:hunter2@127.0.0.1:5000",
    "object_store": {"s3_url": "http://127.0.0.1:8333", "secret_key": "abc123"},
}


def test_report_has_json_html_and_plots(tmp_path):
    write_run(tmp_path)
    report = build_report(tmp_path, "x", 12.5, ENDPOINTS, {"mlflow": "mlflow==1"})
    assert report["summary"] == {"passed": 1, "failed": 1, "skipped": 1}
    assert report["areas"] == {"GPU jobs": "passed", "MLflow": "failed", "vector DB": "skipped"}
    failed = next(c for c in report["checks"] if c["outcome"] == "failed")
    assert "mlflow unreachable at http://127.0.0.1:5000" in failed["message"]
    assert failed["cause"].splitlines() == ["trace line 1", "trace line 2"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["jobs"][0]["ratio_to_peak"] == 0.8
    assert "loss_curve" not in saved["jobs"][3]["metrics"]
    for plot in ("gpu-figures.png", "training-loss.png", "inference-latency.png"):
        assert plot in report["plots"] and (tmp_path / plot).stat().st_size > 1000
    html = (tmp_path / "report.html").read_text()
    assert "NVIDIA H200" in html and "mlflow==1" in html


def test_endpoints_are_redacted(tmp_path):
    write_run(tmp_path)
    build_report(tmp_path, "x", 1.0, ENDPOINTS)
    page = (tmp_path / "report.html").read_text() + (tmp_path / "report.json").read_text()
    assert "hunter2" not in page and "abc123" not in page
    assert "http://***@127.0.0.1:5000" in page


def test_report_renders_in_chromium_without_errors(tmp_path):
    """A real headless Chromium loads the page: no console errors, every plot loads, the strip and the
    failure's cause are there; the screenshot stays with the report."""
    write_run(tmp_path)
    build_report(tmp_path, "x", 12.5, ENDPOINTS, {"mlflow": "mlflow==1"})
    page = load_report(tmp_path)
    assert page.console_errors == []
    assert page.broken_images == []
    assert page.chips == {"GPU jobs": "passed", "MLflow": "failed", "vector DB": "skipped"}
    assert "trace line 2" in page.text and "red: 1 passed, 1 failed" in page.text
    assert "{" not in page.text, "no JSON blobs on the page"
    assert page.screenshot.stat().st_size > 10_000


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
