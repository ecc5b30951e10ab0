"""Vector database: Milvus Lite server (same pymilvus API as Milvus in the cluster)."""

from __future__ import annotations

from pathlib import Path

from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, Server
from modules.spec import Spec

# Milvus Lite restarts with every collection released; this launcher loads them (see the file).
LOADING_LAUNCHER = Path(__file__).parent / "launchers" / "milvus_loaded.py"


def milvus_server(spec: Spec, paths: LocalPaths) -> Server:
    port = spec.local.ports.vector_db
    ready_file = paths.home / "vector_db.ready"
    return Server(
        name="vector_db",
        component="vector_db",
        venv="vector_db",
        command=[
            paths.venv_bin("vector_db", "python"),
            str(LOADING_LAUNCHER),
            str(ready_file),
            "--",
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
        # Healthy = queryable: the launcher writes this file once every collection is loaded.
        health_url=ready_file.as_uri(),
    )
