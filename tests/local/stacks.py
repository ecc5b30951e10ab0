"""Real local stacks for tests: one per module in a temporary home, and an S3 client of its store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
from botocore.config import Config

from modules.local.paths import LocalPaths
from modules.local.runtime import LocalRuntime
from modules.local.seaweedfs import GRPC_PORT_OFFSET
from modules.spec import Spec
from modules.spec.models import LocalPorts

# Linux lends 32768-60999 to outgoing connections (net.ipv4.ip_local_port_range): a test stack's port in
# there can be held by any client of the run (CI once found SeaweedFS's filer gRPC port taken).
EPHEMERAL_PORTS_START = 32768


# What the shipped local environment runs, in start order (modules/local/stack.py).
LOCAL_SERVERS = (
    "object_storage",
    "mlflow",
    "model_server",
    "llm_server",
    "vector_db",
    "otel_collector",
    "prometheus",
)


def ports_from(base: int) -> dict[str, int]:
    """Every local port, consecutive from `base`; with SeaweedFS's implied gRPC ports, all below the
    ephemeral range."""
    ports = {name: base + offset for offset, name in enumerate(LocalPorts.model_fields)}
    highest = max(ports.values()) + GRPC_PORT_OFFSET
    if highest >= EPHEMERAL_PORTS_START:
        raise ValueError(f"ports from {base} reach {highest}, inside the ephemeral range")
    return ports


def running_stack(spec: Spec, home: Path) -> Iterator[LocalRuntime]:
    """A fixture body: the stack up for the module's tests, down afterwards."""
    runtime = LocalRuntime(spec, LocalPaths(home=home, venvs_root=LocalPaths.from_env().venvs_root))
    runtime.up()
    yield runtime
    runtime.down()


def s3_client(runtime: LocalRuntime, config: Config | None = None):
    creds = json.loads(runtime.paths.credentials.read_text())
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{runtime.spec.local.ports.object_storage}",
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="us-east-1",
        config=config,
    )


# Fault tests want a prompt error, not boto3's retries, when a server is down.
NO_RETRIES = Config(connect_timeout=2, read_timeout=20, retries={"max_attempts": 1})
