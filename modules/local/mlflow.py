"""MLflow tracking server + model registry, artifacts proxied to the object store."""

from __future__ import annotations

from pathlib import Path

from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, ConfigFile, S3Credentials, Server, http
from modules.spec import Spec

ARTIFACT_BUCKET = "mlflow-artifacts"
# `mlflow server` with its uvicorn in-process: one import of mlflow, one process (see the file).
IN_PROCESS_LAUNCHER = Path(__file__).parent / "launchers" / "mlflow_inprocess.py"


def mlflow_backend_uri(spec: Spec, paths: LocalPaths, database_url: str | None) -> str:
    if spec.components.mlflow.backend == "postgresql" and database_url:
        return database_url
    return f"sqlite:///{paths.data('mlflow') / 'mlflow.db'}"


def aws_credentials_file(credentials: S3Credentials) -> str:
    """boto3's shared credentials file: the S3 keys reach MLflow through a 0600 file, never through
    supervisord.conf or a process environment other local users could read."""
    keys = {"aws_access_key_id": credentials.access_key, "aws_secret_access_key": credentials.secret_key}
    return "[default]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())


def mlflow_server(spec: Spec, paths: LocalPaths, credentials: S3Credentials, database_url: str | None = None) -> Server:
    port = spec.local.ports.mlflow
    metrics_dir = str(paths.data("mlflow") / "metrics")
    credentials_file = str(paths.config / "mlflow-aws-credentials")
    return Server(
        name="mlflow",
        component="mlflow",
        venv="mlflow",
        command=[
            paths.venv_bin("mlflow", "python"),
            str(IN_PROCESS_LAUNCHER),
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
            metrics_dir,
        ],
        directories=[metrics_dir],
        env={
            "MLFLOW_S3_ENDPOINT_URL": http(spec.local.ports.object_storage),
            "AWS_SHARED_CREDENTIALS_FILE": credentials_file,
            "AWS_DEFAULT_REGION": "us-east-1",
            # The job runner forks 8 workers (~2 GB RSS) that the platform does not use.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            # prometheus_client's multiprocess dir, which MLflow reads when its app is imported: with
            # uvicorn in-process that import happens before the CLI could set it.
            "prometheus_multiproc_dir": metrics_dir,
        },
        files=[ConfigFile(credentials_file, aws_credentials_file(credentials))],
        ports={"http": port},
        # A real API call through the tracking store: /health answers before the database does.
        health_url=http(port, "/api/2.0/mlflow/experiments/search?max_results=1"),
        metrics_url=http(port, "/metrics"),
    )
