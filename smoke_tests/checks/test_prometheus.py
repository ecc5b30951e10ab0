"""Prometheus: every expected scrape target is up; GPU metrics (DCGM) are present on GPU clusters."""

from __future__ import annotations

import time

import httpx
import pytest

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import reaching, require

FIRST_SCRAPE_TIMEOUT_S = 30


@pytest.fixture
def prometheus(endpoints: Endpoints) -> httpx.Client:
    require(endpoints, "observability")
    return httpx.Client(base_url=endpoints.prometheus_url, timeout=10)


def target_health(client: httpx.Client) -> dict[str, str]:
    active = client.get("/api/v1/targets").json()["data"]["activeTargets"]
    return {t["labels"]["job"]: t["health"] for t in active}


def test_every_expected_target_is_up(prometheus: httpx.Client, endpoints: Endpoints):
    expected = {t.job for t in endpoints.scrape_targets} | {"prometheus"}
    deadline = time.monotonic() + FIRST_SCRAPE_TIMEOUT_S
    with reaching("observability", endpoints.prometheus_url):
        health = target_health(prometheus)
        while any(health.get(job) != "up" for job in expected) and time.monotonic() < deadline:
            time.sleep(1)
            health = target_health(prometheus)
    down = {job: health.get(job, "missing") for job in expected if health.get(job) != "up"}
    assert down == {}, f"targets not up after {FIRST_SCRAPE_TIMEOUT_S}s: {down}"


def test_up_metric_is_queryable(prometheus: httpx.Client, endpoints: Endpoints):
    with reaching("observability", endpoints.prometheus_url):
        result = prometheus.get("/api/v1/query", params={"query": "up"}).json()
    assert result["status"] == "success" and result["data"]["result"]


def test_gpu_metrics_present_on_gpu_clusters(prometheus: httpx.Client, endpoints: Endpoints):
    if endpoints.target == "local" or not endpoints.gpu_pools:
        pytest.skip("no GPU pools in this environment: no DCGM exporter to scrape")
    with reaching("observability", endpoints.prometheus_url):
        result = prometheus.get("/api/v1/query", params={"query": "DCGM_FI_DEV_GPU_UTIL"}).json()
    assert result["data"]["result"], "DCGM exporter metrics missing: is the GPU Operator's dcgm-exporter scraped?"
