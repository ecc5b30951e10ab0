"""Train -> register -> serve -> infer: the model path through the platform, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.endpoints import Endpoints
from modules.local.models import serve_model
from smoke_tests.checks.conftest import JobRunner, assert_passed, reaching, require

MODEL_NAME = "cnai-smoke-mlp"


def deploy(endpoints: Endpoints, model_uri: str) -> None:
    """Hand the registered model to the platform's serving layer."""
    if endpoints.inference.model_repository is None:
        pytest.skip("serving deploy on clusters (InferenceService) arrives with the platform part-2 issue")
    with reaching("kserve", endpoints.inference.url):
        serve_model(Path(endpoints.inference.model_repository), endpoints.inference.url, MODEL_NAME, model_uri)


def test_train_logs_and_registers(jobs: JobRunner, endpoints: Endpoints):
    require(endpoints, "mlflow")
    assert_passed(jobs.run("train", "--mlflow-url", endpoints.mlflow_url, "--model-name", MODEL_NAME))


def test_inference_matches_in_process(jobs: JobRunner, endpoints: Endpoints):
    require(endpoints, "kserve")
    require(endpoints, "mlflow")
    trained = jobs.results.get("train")
    if trained is None or trained.status == "fail":
        pytest.skip("blocked by train")
    model_uri = trained.metrics["model_uri"]
    deploy(endpoints, model_uri)
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
    )
    assert_passed(result)
