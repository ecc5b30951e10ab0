"""LLM serving: a chat model the suite trains, published to the object store and served through the
OpenAI API (locally cnai's server, on clusters vLLM behind KServe); its answers checked, and time to
first token, tokens/s and latency p99 measured under a bounded concurrent load."""

from __future__ import annotations

import httpx
import pytest

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import JobRunner, passed, reaching, require, s3_client, store_args

# A cluster's predictor starts (image pull, storage initializer) once the model is published.
CLUSTER_READY_TIMEOUT = 600


def job_args(endpoints: Endpoints) -> list[str]:
    inference = endpoints.inference
    args = ["--openai-url", inference.openai_url, "--store-uri", inference.llm_store_uri]
    args += store_args(endpoints.object_store)
    if inference.model_repository is None:
        args += ["--ready-timeout", str(CLUSTER_READY_TIMEOUT)]
    return args


def test_chat_model_answers_and_streams_under_load(jobs: JobRunner, endpoints: Endpoints):
    require(endpoints, "kserve")
    require(endpoints, "object_storage")
    if endpoints.inference.openai_url is None or endpoints.inference.llm_store_uri is None:
        pytest.skip("no LLM serving here: the vllm runtime is off, or there is no models bucket")
    with reaching("object_storage", endpoints.object_store.s3_url):
        s3_client(endpoints).list_buckets()
    if endpoints.inference.model_repository is not None:  # local: the server is up before any model is
        with reaching("kserve", endpoints.inference.openai_url):
            httpx.get(f"{endpoints.inference.openai_url}/models", timeout=10)
    passed(jobs.run("llm", *job_args(endpoints)))
