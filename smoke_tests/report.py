"""The smoke report: report.json, the JUnit XML pytest wrote, report.html with plots."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from smoke_tests.result import JobResult, parse_results

PERF_FIGURES = {"gemm": ("tflops", "TFLOP/s"), "membw": ("gbs", "GB/s"), "allreduce": ("busbw_gbs", "bus GB/s")}


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    outcome: str  # passed | failed | skipped
    seconds: float
    message: str


def read_junit(path: Path) -> list[CheckOutcome]:
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                text = (node.get("message") or node.text or "").strip()
                message = text.splitlines()[0][:300] if text else ""
        outcomes.append(CheckOutcome(f"{module}::{case.get('name')}", outcome, float(case.get("time", 0)), message))
    return outcomes


def plot_ratios(jobs: list[JobResult], path: Path) -> None:
    """Each performance job as a ratio to its datasheet peak, or its raw figure where none applies."""
    perf = [j for j in jobs if j.name in PERF_FIGURES and j.status != "skip"]
    fig, axes = plt.subplots(1, max(1, len(perf)), figsize=(4 * max(1, len(perf)), 3.2), squeeze=False)
    for ax, job in zip(axes[0], perf, strict=False):
        key, unit = PERF_FIGURES[job.name]
        device = f"{job.device.get('name', '?')} ({job.device.get('type')})"
        if job.ratio_to_peak is not None:
            ax.bar([device], [job.ratio_to_peak], color="tab:green" if job.status == "pass" else "tab:red")
            ax.axhline(1.0, color="grey", linestyle=":", label="datasheet peak")
            ax.set_ylim(0, 1.1)
            ax.set_ylabel("ratio to peak")
        else:
            ax.bar([device], [job.metrics.get(key, 0)], color="tab:blue")
            ax.set_ylabel(unit)
            ax.text(0, 0, "no datasheet peak: figure only", fontsize=8, va="bottom", ha="center")
        ax.set_title(f"{job.name}: {job.metrics.get(key)} {unit}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(job: JobResult, path: Path) -> None:
    latencies = job.metrics.get("latencies_ms", [])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(latencies, bins=40, color="tab:blue")
    for label in ("p50", "p99"):
        value = job.metrics[f"latency_ms_{label}"]
        ax.axvline(value, color="tab:red" if label == "p99" else "tab:orange", label=f"{label} {value:.1f} ms")
    ax.set_xlabel("latency per request (ms)")
    ax.set_ylabel("requests")
    ax.set_title(f"inference: {job.metrics.get('throughput_rps')} req/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_report(out: Path, environment: str, wall_seconds: float) -> dict[str, Any]:
    results_file = out / "results.jsonl"
    jobs = parse_results(results_file.read_text()) if results_file.is_file() else []
    checks = read_junit(out / "junit.xml")
    summary = {k: sum(c.outcome == k for c in checks) for k in ("passed", "failed", "skipped")}
    plots = []
    if any(j.name in PERF_FIGURES for j in jobs):
        plot_ratios(jobs, out / "gpu-ratio-to-peak.png")
        plots.append("gpu-ratio-to-peak.png")
    inference = next((j for j in jobs if j.name == "inference" and j.metrics.get("latencies_ms")), None)
    if inference:
        plot_latency(inference, out / "inference-latency.png")
        plots.append("inference-latency.png")
    report = {
        "environment": environment,
        "wall_seconds": round(wall_seconds, 2),
        "summary": summary,
        "checks": [asdict(c) for c in checks],
        "jobs": [
            {k: v for k, v in asdict(j).items() if k != "metrics"} | {"metrics": _compact(j.metrics)} for j in jobs
        ],
        "plots": plots,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "report.html").write_text(render_html(report))
    return report


def _compact(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "latencies_ms"}


STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
)


def _header(*names: str) -> str:
    return "<tr>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"


def render_html(report: dict[str, Any]) -> str:
    colors = {
        "passed": "#1a7f37",
        "failed": "#cf222e",
        "skipped": "#9a6700",
        "pass": "#1a7f37",
        "warn": "#9a6700",
        "fail": "#cf222e",
        "skip": "#9a6700",
    }

    def cell(value: Any) -> str:
        return f"<td>{html.escape(str(value))}</td>"

    check_rows = "".join(
        f"<tr>{cell(c['name'])}<td style='color:{colors[c['outcome']]}'>{c['outcome']}</td>"
        f"{cell(round(c['seconds'], 2))}{cell(c['message'])}</tr>"
        for c in report["checks"]
    )
    job_rows = "".join(
        f"<tr>{cell(j['name'])}<td style='color:{colors[j['status']]}'>{j['status']}</td>"
        f"{cell(j['device'].get('name'))}{cell(j['ratio_to_peak'] if j['ratio_to_peak'] is not None else '-')}"
        f"{cell(json.dumps(j['metrics'], default=str)[:200])}{cell(j['message'])}</tr>"
        for j in report["jobs"]
    )
    images = "".join(f"<img src='{p}' alt='{p}' style='max-width:100%'>" for p in report["plots"])
    s = report["summary"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>cnai smoke - {report["environment"]}</title>
<style>{STYLE}</style></head>
<body><h1>cnai smoke report: {html.escape(report["environment"])}</h1>
<p>{s["passed"]} passed, {s["failed"]} failed, {s["skipped"]} skipped in {report["wall_seconds"]} s</p>
<h2>Checks</h2><table>{_header("check", "outcome", "s", "message")}{check_rows}</table>
<h2>Jobs</h2><table>{_header("job", "status", "device", "ratio to peak", "metrics", "message")}{job_rows}</table>
<h2>Plots</h2>{images}</body></html>
"""
