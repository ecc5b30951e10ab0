"""The local LLM server for real, with the official OpenAI client: a model published to the stack's
object store is listed and answers, streamed and whole alike; a republished model replaces the served
one; unknown models and bad requests get OpenAI's error shape, never a 500; the metrics Prometheus
scrapes count what was served; each generation is a span in MLflow, through the collector."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from modules.components.kserve import LLM_PREFIX
from modules.components.mlflow_users import TRACES_EXPERIMENT
from smoke_tests.jobs.llm import Fact, ask, publish, stream, train
from smoke_tests.mlflow_traces import find_span
from tests.local.stacks import running_stack
from tests.local.test_runtime import shifted_spec

pytestmark = [pytest.mark.local, pytest.mark.slow]

FACTS = [Fact("Which component queues jobs?", "Kueue"), Fact("Which store keeps models?", "SeaweedFS")]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    yield from running_stack(shifted_spec(), tmp_path_factory.mktemp("llm-home"))


@pytest.fixture(scope="module")
def served(runtime):
    """A small model, trained until it knows FACTS, published as `tiny`; the client and the base URL."""
    ports = runtime.spec.local.ports
    args = type("Args", (), {})()
    args.store_uri = f"s3://models/{LLM_PREFIX}/tiny"
    args.s3_url, args.s3_region = f"http://127.0.0.1:{ports.object_storage}", "us-east-1"
    args.s3_credentials_file = str(runtime.paths.credentials)
    model, tokenizer, _ = train(FACTS, steps=120, seed=0)
    publish(model, tokenizer, args)
    base = f"http://127.0.0.1:{ports.llm_server}/v1"
    return openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=60), base, args


def test_a_published_model_is_listed_and_answers(served):
    client, _, _ = served
    assert "tiny" in {m.id for m in client.models.list()}
    assert [ask(client, "tiny", f, 32) for f in FACTS] == [f.answer for f in FACTS]


def test_streamed_and_whole_replies_agree(served):
    client, _, _ = served
    streamed = stream(client, "tiny", FACTS[0], 32)
    assert streamed.text.strip() == ask(client, "tiny", FACTS[0], 32)
    assert 0 < streamed.ttft_s <= streamed.latency_s


def test_a_republished_model_replaces_the_served_one(served):
    client, _, args = served
    swapped = [Fact(f.question, other.answer) for f, other in zip(FACTS, reversed(FACTS), strict=True)]
    model, tokenizer, _ = train(swapped, steps=120, seed=0)
    publish(model, tokenizer, args)
    assert ask(client, "tiny", FACTS[0], 32) == FACTS[1].answer
    publish(*train(FACTS, steps=120, seed=0)[:2], args)  # as the other tests expect it


def test_an_unknown_model_is_openais_404(served):
    client, _, _ = served
    with pytest.raises(openai.NotFoundError) as caught:
        ask(client, "no-such-model", FACTS[0], 8)
    assert caught.value.body["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "tiny", "messages": [], "max_tokens": 4}, "invalid_messages"),
        ({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "invalid_max_tokens"),
        ({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "invalid_temperature"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "invalid_model"),
        (["not", "an", "object"], "invalid_body"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(served, body, code):
    _, base, _ = served
    response = httpx.post(f"{base}/chat/completions", json=body, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_metrics_count_what_was_served(served, runtime):
    client, _, _ = served
    ask(client, "tiny", FACTS[0], 8)
    metrics = httpx.get(f"http://127.0.0.1:{runtime.spec.local.ports.llm_server}/metrics", timeout=10).text
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines() if line[:1] != "#"}
    assert samples['cnai_llm_requests_total{outcome="ok"}'] >= 1
    assert samples["cnai_llm_time_to_first_token_seconds_count"] >= 1
    assert samples["cnai_llm_generation_tokens_total"] >= 1
    assert samples["cnai_llm_requests_running"] == 0


def test_each_generation_is_a_span_in_mlflow_through_the_collector(served, runtime):
    """The server's own telemetry: a span per generation, with the gen_ai attributes, sent over OTLP to
    the collector, which files it in MLflow."""
    client, _, _ = served
    started_ns = time.time_ns()
    answer = ask(client, "tiny", FACTS[0], 32)
    mlflow_url = f"http://127.0.0.1:{runtime.spec.local.ports.mlflow}"
    # The server batches spans for up to 5 s before sending them.
    span = find_span(mlflow_url, TRACES_EXPERIMENT, "chat tiny", started_ns, timeout_s=60)
    assert span is not None, "no span `chat tiny` in MLflow within 60 s"
    assert span.attributes["gen_ai.request.model"] == "tiny"
    assert span.attributes["gen_ai.usage.output_tokens"] >= len(answer.split())
    assert 0 < span.attributes["cnai.time_to_first_token_s"] < 60
