"""The smoke report: report.json, the JUnit XML pytest wrote, and report.html - a page with a summary
strip, the failures' causes, plots (GPU figures against peak and threshold, training loss, inference
latency), the checks, the jobs, the versions that ran and the endpoints (secrets redacted)."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from smoke_tests.result import JobResult, parse_results

# job -> (metric, unit, expected key of the datasheet peak, expected key of the pass threshold)
PERF_FIGURES = {
    "gemm": ("tflops", "TFLOP/s", "peak_tflops", "pass_tflops"),
    "membw": ("gbs", "GB/s", "peak_gbs", "pass_gbs"),
    "allreduce": ("busbw_gbs", "bus GB/s", None, "pass_busbw_gbs"),
}
# Series a job reports for plotting; kept out of report.json's job tables.
SERIES = ("latencies_ms", "loss_curve")
# What each check module verifies, in the order of the summary strip.
CHECK_AREAS = {
    "test_cluster_jobs": "queued and placed",
    "test_gpu_jobs": "GPU jobs",
    "test_object_storage": "object storage",
    "test_mlflow": "MLflow",
    "test_pipeline": "train → serve",
    "test_serving": "serving",
    "test_vector_db": "vector DB",
    "test_rag": "RAG",
    "test_prometheus": "metrics",
    "test_telemetry": "OTLP traces and metrics",
}
CAUSE_LINES = 6
SECRET_KEY = re.compile(r"secret|password|token|passphrase|access_key|private", re.IGNORECASE)
URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    outcome: str  # passed | failed | skipped
    seconds: float
    message: str  # first line of the cause
    cause: str = ""  # the first lines of the cause, for failures


def read_junit(path: Path) -> list[CheckOutcome]:
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcome, cause = "passed", ""
        message = (case.findtext("system-out") or "").strip().split("\n")[0][:300]  # what a passed check saw
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                text = (node.get("message") or node.text or "").strip()
                message = text.splitlines()[0][:300] if text else ""
                if outcome == "failed":
                    cause = "\n".join((node.text or text).strip().splitlines()[:CAUSE_LINES])
        outcomes.append(
            CheckOutcome(f"{module}::{case.get('name')}", outcome, float(case.get("time", 0)), message, cause)
        )
    return outcomes


def write_junit(checks: list[CheckOutcome], path: Path) -> None:
    """JUnit XML of checks that did not come from pytest (a cluster run's), in the shape read_junit reads."""
    failures = sum(c.outcome == "failed" for c in checks)
    skipped = sum(c.outcome == "skipped" for c in checks)
    suite = ET.Element(
        "testsuite", name="cnai-smoke", tests=str(len(checks)), failures=str(failures), skipped=str(skipped)
    )
    for check in checks:
        module, name = check.name.split("::", 1)
        case = ET.SubElement(
            suite, "testcase", classname=f"smoke_tests.checks.{module}", name=name, time=f"{check.seconds:.3f}"
        )
        if check.outcome != "passed":
            node = ET.SubElement(case, "failure" if check.outcome == "failed" else "skipped", message=check.message)
            node.text = check.cause or check.message
        elif check.message:
            ET.SubElement(case, "system-out").text = check.message
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def redact(value: Any, key: str = "") -> Any:
    """A copy with every secret-looking field and URL credential replaced."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        return "***" if SECRET_KEY.search(key) else URL_USERINFO.sub("***@", value)
    return value


def area_states(checks: list[CheckOutcome]) -> dict[str, str]:
    """passed / failed / skipped per area: failed if any check failed, skipped if none ran."""
    states: dict[str, str] = {}
    for module, label in CHECK_AREAS.items():
        outcomes = {c.outcome for c in checks if c.name.split("::")[0] == module}
        if outcomes:
            states[label] = "failed" if "failed" in outcomes else "passed" if "passed" in outcomes else "skipped"
    return states


# --- plots ------------------------------------------------------------------------------------
def plot_gpu_figures(jobs: list[JobResult], path: Path) -> None:
    """Each performance figure per device as a bar, with the datasheet peak and the pass threshold as lines."""
    perf = [name for name in PERF_FIGURES if any(j.name == name and j.status != "skip" for j in jobs)]
    fig, axes = plt.subplots(1, len(perf), figsize=(4.2 * len(perf), 3.4), squeeze=False)
    for ax, name in zip(axes[0], perf, strict=True):
        key, unit, peak_key, pass_key = PERF_FIGURES[name]
        runs = [j for j in jobs if j.name == name and j.status != "skip"]
        labels = [f"{j.device.get('name', '?')}\n({j.device.get('type')})" for j in runs]
        colors = [{"pass": "tab:green", "warn": "tab:orange"}.get(j.status, "tab:red") for j in runs]
        ax.bar(range(len(runs)), [float(j.metrics.get(key, 0)) for j in runs], color=colors, width=0.6)
        ax.set_xticks(range(len(runs)), labels, fontsize=8)
        for i, job in enumerate(runs):
            for expected_key, style, label in ((peak_key, ":", "datasheet peak"), (pass_key, "--", "pass threshold")):
                if expected_key and expected_key in job.expected:
                    ax.hlines(job.expected[expected_key], i - 0.4, i + 0.4, colors="black", linestyles=style)
                    ax.annotate(label, (i + 0.42, job.expected[expected_key]), fontsize=7, va="center")
            if not job.expected:
                ax.annotate("no datasheet peak:\nfigure only", (i, 0), fontsize=7, ha="center", va="bottom")
        ax.set_ylabel(unit)
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_loss(job: JobResult, path: Path) -> None:
    curve = job.metrics["loss_curve"]
    every = int(job.metrics.get("loss_every", 1))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot([i * every for i in range(len(curve))], curve, color="tab:blue")
    if "final_loss_below" in job.expected:
        ax.axhline(job.expected["final_loss_below"], color="tab:red", linestyle="--", label="pass: final loss below")
        ax.legend()
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE loss")
    ax.set_title(f"training: final loss {job.metrics.get('final_loss')}")
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


def draw_plots(jobs: list[JobResult], out: Path) -> list[str]:
    plots = []
    if any(j.name in PERF_FIGURES and j.status != "skip" for j in jobs):
        plot_gpu_figures(jobs, out / "gpu-figures.png")
        plots.append("gpu-figures.png")
    train = next((j for j in jobs if j.name == "train" and j.metrics.get("loss_curve")), None)
    if train:
        plot_loss(train, out / "training-loss.png")
        plots.append("training-loss.png")
    inference = next((j for j in jobs if j.name == "inference" and j.metrics.get("latencies_ms")), None)
    if inference:
        plot_latency(inference, out / "inference-latency.png")
        plots.append("inference-latency.png")
    return plots


# --- report -----------------------------------------------------------------------------------
def build_report(
    out: Path,
    environment: str,
    wall_seconds: float,
    endpoints: dict[str, Any] | None = None,
    versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    results_file = out / "results.jsonl"
    jobs = parse_results(results_file.read_text()) if results_file.is_file() else []
    checks = read_junit(out / "junit.xml")
    summary = {k: sum(c.outcome == k for c in checks) for k in ("passed", "failed", "skipped")}
    report = {
        "environment": environment,
        "wall_seconds": round(wall_seconds, 2),
        "summary": summary,
        "areas": area_states(checks),
        "checks": [asdict(c) for c in checks],
        "jobs": [
            {k: v for k, v in asdict(j).items() if k != "metrics"} | {"metrics": _compact(j.metrics)} for j in jobs
        ],
        "plots": draw_plots(jobs, out),
        "versions": versions or {},
        "endpoints": redact(endpoints or {}),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "report.html").write_text(render_html(report))
    return report


def _compact(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in SERIES}


COLORS = {"passed": "#1a7f37", "pass": "#1a7f37", "failed": "#cf222e", "fail": "#cf222e"}
COLORS |= {"skipped": "#8c959f", "skip": "#8c959f", "warn": "#9a6700"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328;max-width:1200px}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #d0d7de;padding:4px 8px;font-size:13px;
vertical-align:top;text-align:left} th{background:#f6f8fa}
.strip{display:flex;flex-wrap:wrap;gap:.5em}.chip{color:#fff;border-radius:6px;padding:.4em .8em;font-weight:600}
.verdict{font-size:1.1em;font-weight:700} pre{background:#fff5f5;border-left:4px solid #cf222e;padding:.6em;
white-space:pre-wrap;font-size:12px} dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:0 1em}
dt{color:#57606a} dd{margin:0} img{max-width:100%;border:1px solid #d0d7de;margin:.3em 0}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _outcome(value: str) -> str:
    return f"<td style='color:{COLORS.get(value, '#1f2328')};font-weight:600'>{_e(value)}</td>"


def _pairs(values: dict[str, Any]) -> str:
    """A mapping as a definition list: nested values flattened to dotted keys, never a JSON blob."""
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _flatten(values).items()) + "</dl>"


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= _flatten(value, f"{name}.")
        elif isinstance(value, list):
            flat[name] = ", ".join(_inline(v) for v in value) or "-"
        else:
            flat[name] = "-" if value is None else value
    return flat


def _inline(value: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)


def _table(header: tuple[str, ...], rows: list[str]) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def render_html(report: dict[str, Any]) -> str:
    s = report["summary"]
    green = s["failed"] == 0 and s["passed"] > 0
    strip = "".join(
        f"<span class='chip' style='background:{COLORS[state]}'>{_e(area)}: {_e(state)}</span>"
        for area, state in report["areas"].items()
    )
    failures = "".join(
        f"<h3>{_e(c['name'])}</h3><pre>{_e(c['cause'] or c['message'])}</pre>"
        for c in report["checks"]
        if c["outcome"] == "failed"
    )
    check_rows = [
        f"<tr><td>{_e(c['name'])}</td>{_outcome(c['outcome'])}<td>{c['seconds']:.2f}</td><td>{_e(c['message'])}</td></tr>"
        for c in report["checks"]
    ]
    job_rows = [
        f"<tr><td>{_e(j['name'])}</td>{_outcome(j['status'])}<td>{_e(j['device'].get('name'))} "
        f"({_e(j['device'].get('type'))})</td><td>{_ratio(j['ratio_to_peak'])}</td>"
        f"<td>{_pairs(j['metrics'])}</td><td>{_pairs(j['expected'])}</td><td>{_e(j['message'])}</td></tr>"
        for j in report["jobs"]
    ]
    images = "".join(f"<img src='{_e(p)}' alt='{_e(p)}'>" for p in report["plots"])
    versions = _table(
        ("component", "version"), [f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in report["versions"].items()]
    )
    endpoints = _pairs(report["endpoints"]) if report["endpoints"] else "<p>-</p>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>cnai smoke - {_e(report["environment"])}</title><style>{STYLE}</style></head>
<body><h1>cnai smoke report: {_e(report["environment"])}</h1>
<p class="verdict" style="color:{COLORS["passed" if green else "failed"]}">{"green" if green else "red"}:
{s["passed"]} passed, {s["failed"]} failed, {s["skipped"]} skipped in {report["wall_seconds"]} s</p>
<div class="strip">{strip}</div>
{f"<h2>Failures</h2>{failures}" if failures else ""}
<h2>Figures</h2>{images or "<p>no figures</p>"}
<h2>Checks</h2>{_table(("check", "outcome", "s", "message"), check_rows)}
<h2>Jobs</h2>{_table(("job", "status", "device", "ratio to peak", "metrics", "expected", "message"), job_rows)}
<h2>Versions</h2>{versions}
<h2>Endpoints</h2>{endpoints}
</body></html>
"""


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
