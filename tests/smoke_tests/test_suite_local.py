"""The smoke suite against a real local environment: green, with its report; and its failure modes."""

from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import numpy as np
import pytest

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import publish_model
from smoke_tests.runner import CHECKS_DIR, run_smoke
from tests.local.stacks import running_stack, s3_client
from tests.local.test_runtime import shifted_spec
from tests.smoke_tests.browser import load_report

pytestmark = [pytest.mark.local, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    yield from running_stack(shifted_spec(), tmp_path_factory.mktemp("smoke-home"))


def run_checks(endpoints_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(CHECKS_DIR),
            f"--endpoints={endpoints_path}",
            "-p",
            "no:cacheprovider",
            "-q",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_suite_is_green_and_reports(stack, tmp_path):
    out = tmp_path / "report"
    code, report = run_smoke("local", stack.paths.endpoints, out, ["-q"])
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert code == 0, failed
    assert report["summary"]["passed"] >= 15
    skipped = {c["name"]: c["message"] for c in report["checks"] if c["outcome"] == "skipped"}
    assert all(reason for reason in skipped.values()), "every skip names its reason"
    jobs = {j["name"]: j for j in report["jobs"]}
    assert {"inventory", "correctness", "gemm", "membw", "allreduce", "train", "inference"} <= set(jobs)
    assert jobs["inference"]["metrics"]["max_abs_diff"] <= 1e-5
    assert jobs["train"]["metrics"]["final_loss"] < jobs["train"]["expected"]["final_loss_below"]
    for name in ("report.json", "junit.xml", "report.html", "gpu-figures.png", "training-loss.png"):
        assert (out / name).is_file(), name
    assert report["endpoints"]["mlflow_url"] == Endpoints.read(stack.paths.endpoints).mlflow_url
    assert report["versions"]["mlflow"].startswith("mlflow==")
    page = load_report(out)
    assert page.console_errors == [] and page.broken_images == []
    assert set(page.chips.values()) == {"passed"}


def test_disabled_component_is_skipped_with_reason(stack, tmp_path):
    document = json.loads(stack.paths.endpoints.read_text())
    document["components"]["vector_db"] = "disabled"
    doctored = tmp_path / "endpoints.json"
    doctored.write_text(json.dumps(document))
    proc = run_checks(doctored, "-k", "vector_db", "-rs")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "vector_db is disabled in environment local" in proc.stdout


def test_component_down_fails_naming_component_and_url(stack):
    endpoints = Endpoints.read(stack.paths.endpoints)
    stack.supervisor.stop("vector_db")
    try:
        proc = run_checks(stack.paths.endpoints, "-k", "vector_db")
    finally:
        stack.supervisor.start("vector_db")
    assert proc.returncode == 1
    assert f"vector_db unreachable at {endpoints.vector_db_uri}" in proc.stdout
    assert "Traceback" not in proc.stdout


class _Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 2


def test_a_registered_model_is_published_where_the_platforms_inference_service_serves_from(stack, tmp_path):
    """The cluster half of the train -> serve check, against the real MLflow and S3 store: the registered
    version's MLflow folder lands under the model location a cluster's endpoints document names."""
    endpoints = Endpoints.read(stack.paths.endpoints)
    mlflow.set_tracking_uri(endpoints.mlflow_url)
    mlflow.pyfunc.log_model(name="model", python_model=_Doubler(), registered_model_name="cnai-publish-probe")
    endpoints.inference.model_store_uri = "s3://models/smoke/cnai-publish-probe"  # as on a cluster
    keys = publish_model(endpoints, "models:/cnai-publish-probe/latest", tmp_path)
    assert "smoke/cnai-publish-probe/MLmodel" in keys
    listed = s3_client(stack).list_objects_v2(Bucket="models", Prefix="smoke/cnai-publish-probe/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(keys)
    copy = tmp_path / "copy"
    for key in keys:
        target = copy / key.removeprefix("smoke/cnai-publish-probe/")
        target.parent.mkdir(parents=True, exist_ok=True)
        s3_client(stack).download_file("models", key, str(target))
    assert mlflow.pyfunc.load_model(str(copy)).predict(np.ones((2, 3), dtype=np.float32)).tolist() == [[2.0] * 3] * 2
