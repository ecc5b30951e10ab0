"""RAG end to end: a labelled corpus through the object store, a real embedding model and the vector
database; recall@5 above its floor (smoke_tests/thresholds.py), embed docs/s and search p50/p99 reported."""

from __future__ import annotations

import pytest
from pymilvus import MilvusClient

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import JobRunner, reaching, require, s3_client
from smoke_tests.result import JobResult

DATASETS_BUCKET = "datasets"


def corpus_bucket(endpoints: Endpoints) -> str:
    """The datasets bucket where the environment has one (a corpus is a dataset), else its first bucket."""
    buckets = endpoints.object_store.buckets
    return DATASETS_BUCKET if DATASETS_BUCKET in buckets else buckets[0]


def reach_both(endpoints: Endpoints) -> None:
    """Fail naming the component, before the job's model is loaded, when a server does not answer."""
    with reaching("object_storage", endpoints.object_store.s3_url):
        s3_client(endpoints).list_buckets()
    with reaching("vector_db", endpoints.vector_db_uri):
        MilvusClient(uri=endpoints.vector_db_uri, timeout=30).close()


def job_args(endpoints: Endpoints) -> list[str]:
    store = endpoints.object_store
    args = ["--vector-db-uri", endpoints.vector_db_uri, "--s3-url", store.s3_url, "--s3-region", store.region]
    args += ["--bucket", corpus_bucket(endpoints)]
    if store.credentials.file:  # else the pod's AWS_* variables, which boto3 reads itself
        args += ["--s3-credentials-file", store.credentials.file]
    return args


def passed(result: JobResult) -> None:
    """A failed job fails the check with the job's own one-line message: never a traceback."""
    if result.status == "fail":
        pytest.fail(f"rag: {result.message}", pytrace=False)


def test_rag_recall_on_labelled_corpus(jobs: JobRunner, endpoints: Endpoints):
    require(endpoints, "object_storage")
    require(endpoints, "vector_db")
    reach_both(endpoints)
    passed(jobs.run("rag", *job_args(endpoints)))
