"""Model server: Open Inference Protocol v2 health and metadata (inference itself: test_pipeline)."""

from __future__ import annotations

import httpx
import pytest

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import reaching, require


@pytest.fixture
def server(endpoints: Endpoints) -> httpx.Client:
    require(endpoints, "kserve")
    return httpx.Client(base_url=endpoints.inference.url, timeout=10)


def test_live_and_ready(server: httpx.Client, endpoints: Endpoints):
    with reaching("kserve", endpoints.inference.url):
        assert server.get("/v2/health/live").status_code == 200
        assert server.get("/v2/health/ready").status_code == 200


def test_server_metadata(server: httpx.Client, endpoints: Endpoints):
    with reaching("kserve", endpoints.inference.url):
        metadata = server.get("/v2").json()
    assert metadata["name"] and metadata["version"]


def test_unknown_model_is_a_clean_404(server: httpx.Client, endpoints: Endpoints):
    with reaching("kserve", endpoints.inference.url):
        response = server.get("/v2/models/no-such-model-cnai/ready")
    assert response.status_code == 404
