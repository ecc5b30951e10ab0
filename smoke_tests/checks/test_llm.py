"""LLM serving: a chat model the suite trains, published to the object store and served through the
OpenAI API (locally cnai's server, on clusters vLLM behind KServe); its answers checked, and time to
first token, tokens/s and latency p99 measured under a bounded concurrent load."""

from __future__ import annotations

import httpx
import pytest

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import JobRunner, reaching, require, s3_client
from smoke_tests.result import JobResult

# A cluster's predictor starts (image pull, storage initializer) once the model is published.
CLUSTER_READY_TIMEOUT = 600


def job_args(endpoints: Endpoints) -> list[str]:
    inference, store = endpoints.inference, endpoints.object_store
    args = ["--openai-url", inference.openai_url, "--store-uri", inference.llm_store_uri]
    args += ["--s3-url", store.s3_url, "--s3-region", store.region]
    if store.credentials.file:  # else the pod's AWS_* variables, which boto3 reads itself
        args += ["--s3-credentials-file", store.credentials.file]
    if inference.model_repository is None:
        args += ["--ready-timeout", str(CLUSTER_READY_TIMEOUT)]
    return args


def passed(result: JobResult) -> None:
    """A failed job fails the check with the job's own one-line message: never a traceback."""
    if result.status == "fail":
        pytest.fail(f"llm: {result.message}", pytrace=False)


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
