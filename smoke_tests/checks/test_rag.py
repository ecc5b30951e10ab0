"""RAG end to end: a labelled corpus through the object store, a real embedding model and the vector
database; recall@5 above its floor (smoke_tests/thresholds.py), embed docs/s and search p50/p99 reported."""

from __future__ import annotations

from pymilvus import MilvusClient

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import JobRunner, passed, reaching, require, s3_client, store_args

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
    return ["--vector-db-uri", endpoints.vector_db_uri, *store_args(endpoints.object_store, corpus_bucket(endpoints))]


def test_rag_recall_on_labelled_corpus(jobs: JobRunner, endpoints: Endpoints):
    require(endpoints, "object_storage")
    require(endpoints, "vector_db")
    reach_both(endpoints)
    passed(jobs.run("rag", *job_args(endpoints)))
