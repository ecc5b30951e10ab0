"""LLM serving: an OpenAI-compatible server (chat completions, streaming) for the generative models the
platform publishes to the object store's models bucket under llm/<name>/. On clusters the vLLM runtime
serves the same folder through a KServe InferenceService; locally cnai's own server does
(launchers/llm_server.py), since vLLM needs a GPU: the smoke suite's LLM check runs one client against
either."""

from __future__ import annotations

from pathlib import Path

from modules.components.kserve import LLM_PREFIX
from modules.components.observability import TRACES_ENDPOINT_ENV
from modules.local.mlflow import aws_credentials_file
from modules.local.otelcol import otlp_url
from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, ConfigFile, S3Credentials, Server, http
from modules.spec import Spec

LAUNCHER = Path(__file__).parent / "launchers" / "llm_server.py"
MODELS_BUCKET = "models"
LLM_SERVER = "llm_server"


def openai_url(spec: Spec) -> str:
    """The OpenAI API's base URL, as OpenAI clients take it."""
    return http(spec.local.ports.llm_server, "/v1")


def llm_server(spec: Spec, paths: LocalPaths, credentials: S3Credentials) -> Server:
    port = spec.local.ports.llm_server
    cache = str(paths.data(LLM_SERVER))
    credentials_file = str(paths.config / "llm-aws-credentials")
    return Server(
        name=LLM_SERVER,
        component="kserve",
        venv=LLM_SERVER,
        command=[
            paths.venv_bin(LLM_SERVER, "python"),
            str(LAUNCHER),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--s3-url",
            http(spec.local.ports.object_storage),
            "--bucket",
            spec.bucket(MODELS_BUCKET),
            "--prefix",
            LLM_PREFIX,
            "--cache",
            cache,
        ],
        directories=[cache],
        # The platform's keys through a 0600 file, as MLflow gets them.
        env={"AWS_SHARED_CREDENTIALS_FILE": credentials_file, "AWS_DEFAULT_REGION": "us-east-1"}
        | ({TRACES_ENDPOINT_ENV: traces} if (traces := otlp_url(spec, "traces")) else {}),
        files=[ConfigFile(credentials_file, aws_credentials_file(credentials))],
        ports={"http": port},
        health_url=http(port, "/health"),
        metrics_url=http(port, "/metrics"),
    )
