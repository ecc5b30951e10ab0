"""checkov on everything `cnai render` writes for every cluster environment: zero failed checks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from modules.k8s.render import rendered_files
from modules.spec import list_envs, load_spec

CHECKOV = Path(os.environ.get("CNAI_CHECKOV", Path.home() / ".cache/cnai/tools/checkov/bin/checkov"))
SKIPS: dict[str, str] = {
    # Images are pinned by tag in modules/versions.yaml; no registry is reachable here to resolve
    # digests. Publishing cnai-smoke should record its digest in the BOM, then drop this skip.
    "CKV_K8S_43": "image pinned by tag, digest not resolvable offline",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    for env in (e for e in list_envs() if load_spec(e).is_cluster):
        for name, text in rendered_files(load_spec(env)).items():
            if name != "helm-releases.yaml":  # chart values, not Kubernetes objects
                (root / env).mkdir(exist_ok=True)
                (root / env / name).write_text(text)
    return root


def test_checkov_finds_nothing(rendered):
    if not CHECKOV.exists():
        if os.environ.get("CI"):
            pytest.fail(f"checkov missing at {CHECKOV}: `task setup` installs it")
        pytest.skip(f"checkov not installed at {CHECKOV} (run `task setup`)")
    cmd = [str(CHECKOV), "-d", str(rendered), "--framework", "kubernetes", "--skip-download", "--quiet", "-o", "json"]
    if SKIPS:
        cmd += ["--skip-check", ",".join(SKIPS)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [f"{c['check_id']} {c['resource']}" for r in reports for c in r["results"]["failed_checks"]]
    assert failed == []
    assert sum(r["summary"]["passed"] for r in reports) > 0, "checkov scanned nothing"
