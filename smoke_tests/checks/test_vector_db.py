"""Vector database: insert 10k embeddings, build an HNSW index, search; recall@10 >= 0.95 vs brute force.

Vectors are seeded random (dimension of all-MiniLM-L6-v2): recall is a property of the index, and
random vectors are its hardest case (no cluster structure to lean on).
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient

from modules.endpoints import Endpoints
from smoke_tests.checks.conftest import reaching, require

ROWS, DIM, QUERIES, K = 10_000, 384, 50, 10
RECALL_FLOOR = 0.95


@pytest.fixture
def milvus(endpoints: Endpoints):
    require(endpoints, "vector_db")
    with reaching("vector_db", endpoints.vector_db_uri):
        client = MilvusClient(uri=endpoints.vector_db_uri, timeout=30)
    name = f"cnai_smoke_{uuid.uuid4().hex[:8]}"
    yield client, name
    with reaching("vector_db", endpoints.vector_db_uri):
        if client.has_collection(name):
            client.drop_collection(name)


def create_collection(client: MilvusClient, name: str) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index(
        field_name="embedding", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 200}
    )
    client.create_collection(name, schema=schema, index_params=index)


def recall_at_k(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(ids) & set(row)) / K for ids, row in zip(found, truth, strict=True)]))


def test_insert_index_search_recall(milvus, endpoints: Endpoints):
    client, name = milvus
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((ROWS, DIM), dtype=np.float32)
    queries = rng.standard_normal((QUERIES, DIM), dtype=np.float32)
    with reaching("vector_db", endpoints.vector_db_uri):
        create_collection(client, name)
        for start in range(0, ROWS, 2000):
            rows = [{"id": i, "embedding": vectors[i].tolist()} for i in range(start, min(start + 2000, ROWS))]
            client.insert(name, rows)
        client.load_collection(name)
        hits = client.search(
            name,
            data=queries.tolist(),
            limit=K,
            anns_field="embedding",
            search_params={"metric_type": "L2", "params": {"ef": 128}},
        )
        count = client.query(name, filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"]
    distances = (queries**2).sum(1)[:, None] - 2 * queries @ vectors.T + (vectors**2).sum(1)[None, :]
    truth = np.argsort(distances, axis=1)[:, :K]
    recall = recall_at_k([[h["id"] for h in row] for row in hits], truth)
    assert count == ROWS
    assert recall >= RECALL_FLOOR, f"recall@{K} = {recall:.3f} < {RECALL_FLOOR}"
