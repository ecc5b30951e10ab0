"""Object storage: the SeaweedFS S3 gateway (`weed mini`) on loopback."""

from __future__ import annotations

import json

from modules.components.object_storage import ADMIN_ACTIONS, S3Identity, s3_identities
from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, ConfigFile, FreeSpace, S3Credentials, Server, http
from modules.local.tls import TlsFiles
from modules.spec import Spec

# `weed mini` sizes volumes from the free disk (64 MB to 1 GB) when started; pinned, the space the store
# needs is known before it starts.
VOLUME_SIZE_MB = 64
# SeaweedFS marks every volume read-only while less than this share of the disk is free.
READ_ONLY_BELOW_PERCENT_FREE = 1

# Every part of `weed mini` that serves or dials gRPC; the admin and worker talk to the master too.
MTLS_PARTS = ("master", "volume", "filer", "s3", "admin", "worker", "client")


def platform_identity(credentials: S3Credentials) -> dict:
    """SeaweedFS's S3 identity file, as the cluster's store writes it: one identity with the admin
    actions, holding the generated keys."""
    return s3_identities([S3Identity("cnai", credentials.access_key, credentials.secret_key, ADMIN_ACTIONS)])


def security_toml(tls: TlsFiles) -> str:
    """SeaweedFS's security.toml: master, volume server and filer accept only mutual-TLS peers (HTTP and
    gRPC alike); the S3 gateway, which checks the S3 keys, is the one door. No UI, no directory listing."""
    pair = f'cert = "{tls.cert}"\nkey = "{tls.key}"\n'
    sections = [
        "[access]\nui = false\n",
        "[filer.expose_directory_metadata]\nenabled = false\n",
        f'[grpc]\nca = "{tls.ca}"\n',
        *(f"[grpc.{part}]\n{pair}" for part in MTLS_PARTS),
        f'[https.client]\nenabled = true\n{pair}ca = "{tls.ca}"\n',
        *(f'[https.{part}]\n{pair}ca = "{tls.ca}"\n' for part in ("master", "volume", "filer")),
    ]
    return "\n".join(sections)


GRPC_PORT_OFFSET = 10000  # SeaweedFS opens each service's gRPC port at its HTTP port + this


def _ports_with_grpc(http_ports: dict[str, int]) -> dict[str, int]:
    return http_ports | {f"{role}-grpc": port + GRPC_PORT_OFFSET for role, port in http_ports.items()}


def free_space_needed(buckets: int) -> FreeSpace:
    """The store takes writes only above its read-only threshold, with a volume free for each bucket
    (SeaweedFS keeps every bucket in volumes of its own) and one spare for the first one that fills."""
    return FreeSpace(
        percent_of_disk=READ_ONLY_BELOW_PERCENT_FREE,
        megabytes=(buckets + 1) * VOLUME_SIZE_MB,
        why=(
            f"SeaweedFS marks its volumes read-only below {READ_ONLY_BELOW_PERCENT_FREE}% of the disk free "
            f"and gives each of the {buckets} buckets a {VOLUME_SIZE_MB} MB volume of its own"
        ),
    )


def seaweedfs_server(spec: Spec, paths: LocalPaths, credentials: S3Credentials) -> Server:
    ports = spec.local.ports
    s3_config = str(paths.config / "seaweedfs-s3.json")
    config_dir = paths.config / "seaweedfs"
    return Server(
        name="object_storage",
        component="object_storage",
        venv="object_storage",
        command=[
            paths.venv_bin("object_storage", "weed"),
            f"-config_dir={config_dir}",
            "mini",
            f"-dir={paths.data('object_storage')}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.config={s3_config}",
            f"-s3.port={ports.object_storage}",
            f"-master.port={ports.seaweedfs_master}",
            f"-master.volumeSizeLimitMB={VOLUME_SIZE_MB}",
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
        files=[
            ConfigFile(s3_config, json.dumps(platform_identity(credentials), indent=2)),
            ConfigFile(str(config_dir / "security.toml"), security_toml(TlsFiles(paths.tls))),
        ],
        stop_wait_seconds=20,
        free_space=free_space_needed(len(spec.components.object_storage.buckets)),
    )
