"""Vector database: Milvus Lite server (same pymilvus API as Milvus in the cluster)."""

from __future__ import annotations

from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, Server
from modules.spec import Spec


def milvus_server(spec: Spec, paths: LocalPaths) -> Server:
    port = spec.local.ports.vector_db
    return Server(
        name="vector_db",
        component="vector_db",
        venv="vector_db",
        command=[
            paths.venv_bin("vector_db", "milvus-lite"),
            "server",
            "--data-dir",
            str(paths.data("vector_db")),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
        ],
        ports={"grpc": port},
        # gRPC only: readiness is the port accepting connections.
        health_url=f"tcp://{LOOPBACK}:{port}",
    )
