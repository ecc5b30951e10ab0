"""Train -> register -> serve -> infer: the model path through the platform, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.endpoints import Endpoints
from modules.local.models import serve_model
from smoke_tests.checks.conftest import JobRunner, assert_passed, publish_model, reaching, require

MODEL_NAME = "cnai-smoke-mlp"
# A cluster's predictor restarts its storage initializer with back-off until the model is published.
CLUSTER_READY_TIMEOUT = 600


def deploy(endpoints: Endpoints, model_uri: str, workdir: Path) -> None:
    """Hand the registered model to the platform's serving layer: locally the model server's repository;
    on a cluster the location the platform's smoke InferenceService serves from (its predictor picks
    the model up when its storage initializer runs again: the inference job waits for readiness)."""
    if endpoints.inference.model_repository is not None:
        with reaching("kserve", endpoints.inference.url):
            serve_model(Path(endpoints.inference.model_repository), endpoints.inference.url, MODEL_NAME, model_uri)
        return
    require(endpoints, "object_storage")
    with reaching("object_storage", endpoints.object_store.s3_url):
        publish_model(endpoints, model_uri, workdir)


def test_train_logs_and_registers(jobs: JobRunner, endpoints: Endpoints):
    require(endpoints, "mlflow")
    assert_passed(jobs.run("train", "--mlflow-url", endpoints.mlflow_url, "--model-name", MODEL_NAME))


def test_inference_matches_in_process(jobs: JobRunner, endpoints: Endpoints, tmp_path: Path):
    require(endpoints, "kserve")
    require(endpoints, "mlflow")
    trained = jobs.results.get("train")
    if trained is None or trained.status == "fail":
        pytest.skip("blocked by train")
    model_uri = trained.metrics["model_uri"]
    deploy(endpoints, model_uri, tmp_path)
    result = jobs.run(
        "inference",
        "--mlflow-url",
        endpoints.mlflow_url,
        "--inference-url",
        endpoints.inference.url,
        "--model-uri",
        model_uri,
        "--model-name",
        MODEL_NAME,
        *(["--ready-timeout", str(CLUSTER_READY_TIMEOUT)] if endpoints.inference.model_repository is None else []),
    )
    assert_passed(result)
