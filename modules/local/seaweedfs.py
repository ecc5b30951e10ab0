"""Object storage: the SeaweedFS S3 gateway (`weed mini`) on loopback."""

from __future__ import annotations

import json

from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, ConfigFile, S3Credentials, Server, http
from modules.spec import Spec


def s3_identities(credentials: S3Credentials) -> dict:
    """SeaweedFS's S3 identity file: one identity holding the generated keys."""
    return {
        "identities": [
            {
                "name": "cnai",
                "credentials": [{"accessKey": credentials.access_key, "secretKey": credentials.secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def _ports_with_grpc(http_ports: dict[str, int]) -> dict[str, int]:
    """SeaweedFS opens each service's gRPC port at its HTTP port + 10000."""
    return http_ports | {f"{role}-grpc": port + 10000 for role, port in http_ports.items()}


def seaweedfs_server(spec: Spec, paths: LocalPaths, credentials: S3Credentials) -> Server:
    ports = spec.local.ports
    s3_config = str(paths.config / "seaweedfs-s3.json")
    return Server(
        name="object_storage",
        component="object_storage",
        venv="object_storage",
        command=[
            paths.venv_bin("object_storage", "weed"),
            "mini",
            f"-dir={paths.data('object_storage')}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.config={s3_config}",
            f"-s3.port={ports.object_storage}",
            f"-master.port={ports.seaweedfs_master}",
            f"-volume.port={ports.seaweedfs_volume}",
            f"-filer.port={ports.seaweedfs_filer}",
            f"-metricsPort={ports.seaweedfs_metrics}",
            f"-admin.port={ports.seaweedfs_admin}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ],
        ports=_ports_with_grpc(
            {
                "s3": ports.object_storage,
                "master": ports.seaweedfs_master,
                "volume": ports.seaweedfs_volume,
                "filer": ports.seaweedfs_filer,
                "admin": ports.seaweedfs_admin,
            }
        )
        | {"metrics": ports.seaweedfs_metrics},
        health_url=http(ports.object_storage, "/healthz"),
        metrics_url=http(ports.seaweedfs_metrics, "/metrics"),
        files=[ConfigFile(s3_config, json.dumps(s3_identities(credentials), indent=2), 0o600)],
        stop_wait_seconds=20,
    )
