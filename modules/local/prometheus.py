"""Prometheus (Debian's binary) scraping every local server that exposes metrics."""

from __future__ import annotations

from urllib.parse import urlsplit

import yaml

from modules.local.paths import LocalPaths
from modules.local.server import LOOPBACK, ConfigFile, Server, http
from modules.spec import Spec


def prometheus_config(targets: list[Server], self_port: int) -> dict:
    """One scrape job per server with a metrics endpoint, plus Prometheus itself."""
    jobs = [{"job_name": "prometheus", "static_configs": [{"targets": [f"{LOOPBACK}:{self_port}"]}]}]
    for server in targets:
        if server.metrics_url is None:
            continue
        url = urlsplit(server.metrics_url)
        jobs.append(
            {
                "job_name": server.name,
                "metrics_path": url.path,
                "static_configs": [{"targets": [url.netloc], "labels": {"component": server.component}}],
            }
        )
    return {"global": {"scrape_interval": "5s", "evaluation_interval": "15s"}, "scrape_configs": jobs}


def prometheus_server(spec: Spec, paths: LocalPaths, scraped: list[Server], binary: str) -> Server:
    port = spec.local.ports.prometheus
    config_path = str(paths.config / "prometheus.yml")
    config = prometheus_config(scraped, port)
    return Server(
        name="prometheus",
        component="observability",
        command=[
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={paths.data('prometheus')}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--storage.tsdb.retention.time=" + spec.components.observability.retention,
        ],
        ports={"http": port},
        health_url=http(port, "/-/ready"),
        metrics_url=http(port, "/metrics"),
        files=[ConfigFile(config_path, yaml.safe_dump(config, sort_keys=False))],
    )
