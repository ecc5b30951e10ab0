"""The cluster lifecycle's smoke step (what `cnai up ENV` and `cnai smoke ENV` run) against the sim's real
API server: the same code a cloud cluster gets, with kubeconfig, Jobs, Workloads, Pods and logs real."""

from __future__ import annotations

import json
import shutil

import pytest
from rich.console import Console

from modules.cluster import apply as kube
from modules.cluster.lifecycle import Lifecycle, LifecycleError
from modules.cluster.paths import ClusterPaths
from modules.components.endpoints import cluster_endpoints
from modules.sim.runtime import SimRuntime
from modules.sim.smoke import delete, platform_objects, stand_in_secrets

pytestmark = pytest.mark.sim


def test_the_smoke_step_follows_every_job_and_fails_on_missing_gpu_results(sim: SimRuntime, tmp_path, monkeypatch):
    """On a cluster every GPU job must print its result: kwok runs no container, so the step must go red
    naming the result checks, while admission, placement and completion are green in its report."""
    monkeypatch.setenv("CNAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CNAI_REPORTS", str(tmp_path / "reports"))
    spec = sim.specs[0]
    paths = ClusterPaths.from_env(spec.name)
    paths.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sim.paths.kubeconfig, paths.kubeconfig)
    paths.endpoints.write_text(cluster_endpoints(spec).model_dump_json())
    dyn = sim.client()
    platform = [*platform_objects(spec), *stand_in_secrets(spec)]
    kube.apply_all(dyn, platform, retries_for_webhooks=30)
    life = Lifecycle(spec, paths, console=Console(stderr=True), smoke_timeout=120)
    try:
        with pytest.raises(LifecycleError, match=r"check\(s\) failed \(test_gpu_jobs::test_result\["):
            life._smoke()
    finally:
        delete(dyn, [o for o in [*platform, *life.smoke_manifests()] if o["kind"] != "Namespace"])
    report = json.loads(paths.report.read_text())
    outcomes = {c["name"]: c for c in report["checks"]}
    queued = [c for name, c in outcomes.items() if name.startswith("test_cluster_jobs::test_")]
    assert queued and all(c["outcome"] == "passed" for c in queued if "suite_report" not in c["name"]), queued
    results = [c for name, c in outcomes.items() if name.startswith("test_gpu_jobs::test_result[")]
    assert results and all(c["outcome"] == "failed" and "no result line" in c["message"] for c in results)
    assert outcomes["test_cluster_jobs::test_suite_report"]["outcome"] == "failed"
