"""The llm job's pure parts and failure messages: corpus validation, the tokenizer and chat template
round trip, a model that learns its answers, and one-line failures for bad input and a store or an
endpoint that does not answer (the served path runs for real in tests/local/test_llm_server.py)."""

from __future__ import annotations

import json
import re

import pytest

from smoke_tests.jobs import llm
from smoke_tests.result import parse_results
from smoke_tests.thresholds import LLM_ANSWER_ACCURACY_FLOOR, llm_verdict

UNREACHABLE = "http://127.0.0.1:1"  # port 1: refused at once
FACTS = [llm.Fact("Which component queues jobs?", "Kueue"), llm.Fact("Which store keeps models?", "SeaweedFS")]


def corpus(tmp_path, document) -> str:
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"facts": []}, "has no facts"),
        ({"facts": [{"question": "Q?"}]}, "expected {facts"),
        ({"facts": [{"question": " ", "answer": "A"}]}, "empty question or answer"),
        (["not", "an", "object"], "expected {facts"),
    ],
)
def test_bad_corpora_are_refused_with_their_path(tmp_path, document, expected):
    path = corpus(tmp_path, document)
    with pytest.raises(llm.LlmError, match=re.escape(expected)) as caught:
        llm.load_facts(llm.Path(path))
    assert path in str(caught.value)


def test_the_shipped_corpus_loads():
    facts = llm.load_facts(llm.CORPUS)
    assert len(facts) >= 12 and len({f.question for f in facts}) == len(facts)


def test_the_tokenizer_round_trips_and_applies_the_chat_template():
    tokenizer = llm.tokenizer_for(FACTS)
    text = tokenizer.apply_chat_template(llm.conversation(FACTS[0]), tokenize=False)
    assert text == "<|user|>Which component queues jobs?<|assistant|>Kueue<|end|>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    prompt = tokenizer.apply_chat_template(llm.conversation(FACTS[0], answered=False), add_generation_prompt=True)
    assert tokenizer.decode(prompt).endswith("<|assistant|>")


def test_training_teaches_the_answers():
    model, tokenizer, loss = llm.train(FACTS, steps=120, seed=0)
    assert loss < 0.5
    for fact in FACTS:
        prompt = tokenizer.apply_chat_template(
            llm.conversation(fact, answered=False), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        out = model.generate(**prompt, max_new_tokens=16, do_sample=False, eos_token_id=tokenizer.eos_token_id)
        reply = tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
        assert reply == fact.answer


def run(capsys, *args: str):
    code = llm.main(list(args))
    (result,) = parse_results(capsys.readouterr().out)
    assert code == (0 if result.status == "pass" else 1)
    return result


def test_an_empty_corpus_fails_in_one_line(capsys, tmp_path):
    result = run(
        capsys,
        "--openai-url",
        UNREACHABLE,
        "--store-uri",
        "s3://models/llm/x",
        "--corpus",
        corpus(tmp_path, {"facts": []}),
    )
    assert result.status == "fail" and "has no facts" in result.message and "Traceback" not in result.message


def test_an_unreachable_store_is_named(capsys):
    result = run(
        capsys, "--openai-url", UNREACHABLE, "--store-uri", "s3://models/llm/x", "--s3-url", UNREACHABLE, "--steps", "1"
    )
    assert result.status == "fail" and result.message.startswith(f"object_storage at {UNREACHABLE}: could not publish")


def test_a_store_uri_that_is_not_a_bucket_path_is_refused(capsys):
    result = run(capsys, "--openai-url", UNREACHABLE, "--store-uri", "models/llm/x", "--steps", "1")
    assert result.status == "fail" and "expected s3://BUCKET/PREFIX" in result.message


def test_an_endpoint_that_never_lists_the_model_is_named(monkeypatch):
    client = llm.client_for(type("Args", (), {"openai_url": UNREACHABLE, "timeout": 2})())
    with pytest.raises(llm.LlmError, match=re.escape(f"kserve at {UNREACHABLE}")) as caught:
        llm.wait_listed(client, "tiny", timeout_s=1.5)
    assert "not served within 2s" in str(caught.value) and "APIConnectionError" in str(caught.value)


def test_the_verdict_floor():
    assert llm_verdict(LLM_ANSWER_ACCURACY_FLOOR).status == "pass"
    assert llm_verdict(LLM_ANSWER_ACCURACY_FLOOR - 0.01).status == "fail"
