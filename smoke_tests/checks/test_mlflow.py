"""MLflow: experiment, run, metrics, an artifact that lands in the bucket, a registry version, loaded back."""

from __future__ import annotations

import uuid

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import reaching, require, s3_client


@pytest.fixture
def tracking(endpoints: Endpoints) -> MlflowClient:
    require(endpoints, "mlflow")
    mlflow.set_tracking_uri(endpoints.mlflow_url)
    return MlflowClient(endpoints.mlflow_url)


def test_run_metrics_and_artifact_in_object_store(tracking: MlflowClient, endpoints: Endpoints, tmp_path):
    with reaching("mlflow", endpoints.mlflow_url):
        mlflow.set_experiment("cnai-smoke-checks")
        note = tmp_path / "note.txt"
        note.write_text(f"cnai smoke {uuid.uuid4()}")
        with mlflow.start_run() as run:
            mlflow.log_metric("accuracy", 0.91, step=1)
            mlflow.log_artifact(str(note))
        history = tracking.get_metric_history(run.info.run_id, "accuracy")
        artifacts = [a.path for a in tracking.list_artifacts(run.info.run_id)]
    assert [m.value for m in history] == [0.91]
    assert "note.txt" in artifacts
    # Artifacts are proxied by the server into the object store: find the file there.
    store = s3_client(endpoints)
    keys = [o["Key"] for o in store.list_objects_v2(Bucket="mlflow-artifacts").get("Contents", [])]
    assert any(k.endswith(f"{run.info.run_id}/artifacts/note.txt") for k in keys), keys[:20]


def test_registry_version_loads_back(tracking: MlflowClient, endpoints: Endpoints):
    name = "cnai-smoke-pyfunc"

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return np.asarray(model_input) * 2

    with reaching("mlflow", endpoints.mlflow_url):
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model", python_model=Doubler(), registered_model_name=name, pip_requirements=[]
            )
        version = tracking.get_model_version(name, info.registered_model_version)
        loaded = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
    assert version.status == "READY"
    assert np.array_equal(loaded.predict(np.array([1.0, 2.0])), np.array([2.0, 4.0]))
