"""Model serving: MLServer with the MLflow runtime, Open Inference Protocol v2.

It is the runtime KServe uses for MLflow models in the cluster. Models live in a model repository
folder (one `model-settings.json` each) and are loaded through the v2 repository API.
"""

from __future__ import annotations

import json

from modules.local.otelcol import otlp_grpc_address
from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, ConfigFile, Server, http
from modules.spec import Spec

MLFLOW_RUNTIME = "mlserver_mlflow.MLflowRuntime"


def mlserver_settings(spec: Spec, paths: LocalPaths) -> dict:
    """MLServer's settings.json; with `tracing_server` it sends a span per request (health checks
    excluded) over OTLP/gRPC to the collector."""
    ports = spec.local.ports
    return {
        "host": LOOPBACK,
        "http_port": ports.model_server,
        "grpc_port": ports.model_server_grpc,
        "metrics_port": ports.model_server_metrics,
        "model_repository_root": str(paths.model_repository),
        "load_models_at_startup": True,
        # Inference in the server process: one fewer Python process (~300 MB) on a laptop.
        "parallel_workers": 0,
        "debug": False,
    } | ({"tracing_server": traces} if (traces := otlp_grpc_address(spec, "traces")) else {})


def model_settings(name: str, model_uri: str) -> dict:
    """The model-settings.json of one MLflow model served by MLServer."""
    return {"name": name, "implementation": MLFLOW_RUNTIME, "parameters": {"uri": model_uri}}


def mlserver_server(spec: Spec, paths: LocalPaths) -> Server:
    ports = spec.local.ports
    settings_path = str(paths.model_repository / "settings.json")
    return Server(
        name="model_server",
        component="kserve",
        venv="model_server",
        command=[paths.venv_bin("model_server", "mlserver"), "start", str(paths.model_repository)],
        env={"MLFLOW_TRACKING_URI": http(ports.mlflow)},
        ports={"http": ports.model_server, "grpc": ports.model_server_grpc, "metrics": ports.model_server_metrics},
        health_url=http(ports.model_server, "/v2/health/live"),
        metrics_url=http(ports.model_server_metrics, "/metrics"),
        files=[ConfigFile(settings_path, json.dumps(mlserver_settings(spec, paths), indent=2))],
    )
