"""Run the smoke suite against one endpoints document and write the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from modules.components.observability import TRACES_ENDPOINT_ENV
from smoke_tests.report import build_report

CHECKS_DIR = Path(__file__).parent / "checks"
# A check that stalls fails alone, by name, instead of holding the report back: the slowest healthy check
# (a GPU job on a large pool) ends in a few minutes.
CHECK_DEADLINE_S = 900
# MLflow's client retries a failing server 7 times with doubling waits (about 20 minutes per call): a
# broken store must turn a check red in seconds, and say why.
MLFLOW_CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def run_smoke(
    environment: str, endpoints: Path, out: Path, extra_args: list[str] | None = None
) -> tuple[int, dict[str, Any]]:
    """pytest over smoke_tests/checks (its progress streams to the terminal), then the report."""
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    results.write_text("")
    document = json.loads(endpoints.read_text()) if endpoints.is_file() else {}
    # The jobs the checks run send their spans to the platform's collector.
    traces = {TRACES_ENDPOINT_ENV: document["otlp_traces_url"]} if document.get("otlp_traces_url") else {}
    began = time.monotonic()
    code = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(CHECKS_DIR),
            f"--endpoints={endpoints}",
            f"--results={results}",
            f"--junitxml={out / 'junit.xml'}",
            "-p",
            "no:cacheprovider",
            "-o",
            f"timeout={CHECK_DEADLINE_S}",
            "-v",
            "--color=yes",
            *(extra_args or []),
        ],
        check=False,
        env=os.environ | MLFLOW_CLIENT_ENV | traces,
    ).returncode
    versions = versions_that_ran(document.get("target", "local"))
    report = build_report(out, environment, time.monotonic() - began, document, versions)
    return code, report


def versions_that_ran(target: str) -> dict[str, str]:
    """The bill of materials' pins of what this target runs, and the suite's own PyTorch."""
    from modules.versions import bom

    pins = bom()
    if target == "sim":
        ran = go_modules(pins["sim"])
    elif target == "local":
        servers = pins["local_servers"]
        ran = {name: " ".join(entry["packages"]) for name, entry in servers.items() if "packages" in entry}
        ran["prometheus"] = f"Debian package {servers['prometheus']['debian_package']}"
        ran |= go_modules(servers["otel_collector"]["go_modules"])
    else:
        ran = {name: f"{entry['chart']} {entry['version']}" for name, entry in pins["helm_charts"].items()}
    return ran | {"torch (smoke suite)": version("torch")}


def go_modules(entries: dict[str, dict[str, str]]) -> dict[str, str]:
    return {name: f"{entry['module']} {entry['version']}" for name, entry in entries.items() if "module" in entry}


REPORT_MARKER = "CNAI-SMOKE-REPORT "


def main(argv: list[str] | None = None) -> int:
    """In-cluster entry point (the cnai-smoke-suite Job): run, then print the report on one marked line
    so `cnai smoke ENV` can read it from the pod's log."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", required=True)
    parser.add_argument("--endpoints", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/smoke-report"))
    args = parser.parse_args(argv)
    code, report = run_smoke(args.env, args.endpoints, args.out, ["-q"])
    print(REPORT_MARKER + json.dumps(report), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
