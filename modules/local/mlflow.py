"""MLflow tracking server + model registry, artifacts proxied to the object store."""

from __future__ import annotations

from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, S3Credentials, Server, http
from modules.spec import Spec

ARTIFACT_BUCKET = "mlflow-artifacts"


def mlflow_backend_uri(spec: Spec, paths: LocalPaths, database_url: str | None) -> str:
    if spec.components.mlflow.backend == "postgresql" and database_url:
        return database_url
    return f"sqlite:///{paths.data('mlflow') / 'mlflow.db'}"


def mlflow_server(spec: Spec, paths: LocalPaths, credentials: S3Credentials, database_url: str | None = None) -> Server:
    port = spec.local.ports.mlflow
    return Server(
        name="mlflow",
        component="mlflow",
        venv="mlflow",
        command=[
            paths.venv_bin("mlflow", "mlflow"),
            "server",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            mlflow_backend_uri(spec, paths, database_url),
            "--artifacts-destination",
            f"s3://{ARTIFACT_BUCKET}/",
            "--serve-artifacts",
            "--expose-prometheus",
            str(paths.data("mlflow") / "metrics"),
        ],
        env={
            "MLFLOW_S3_ENDPOINT_URL": http(spec.local.ports.object_storage),
            "AWS_ACCESS_KEY_ID": credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            # The job runner forks 8 workers (~2 GB RSS) that the platform does not use.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
        ports={"http": port},
        health_url=http(port, "/health"),
        metrics_url=http(port, "/metrics"),
    )
