"""llm: a chat model trained, published, served through the OpenAI API, checked and loaded.

The job trains a small GPT-2 (transformers) with a character tokenizer and a chat template on the
platform's own question/answer corpus (smoke_tests/data/llm_chat.json) until it knows the answers,
publishes it as a Hugging Face folder to the object store (`--store-uri`, where the LLM server reads:
locally cnai's OpenAI-compatible server, on a cluster the vLLM InferenceService's storageUri), then,
with the official `openai` client against `--openai-url`: waits for the model to be listed, asks every
question greedily (the answers are checked against the corpus), and sends a bounded concurrent load of
streamed completions, reporting time to first token, tokens/s and latency p50/p99.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from botocore.exceptions import BotoCoreError, ClientError

from smoke_tests.jobs.common import (
    JobFailure,
    ObjectStoreError,
    device_info,
    parser,
    percentile,
    run_job,
    s3_client,
    timed,
)
from smoke_tests.result import JobResult
from smoke_tests.thresholds import llm_verdict

CORPUS = Path(__file__).resolve().parent.parent / "data" / "llm_chat.json"
SPECIALS = {"pad": "<|pad|>", "user": "<|user|>", "assistant": "<|assistant|>", "end": "<|end|>"}
# The template vLLM and the local server both apply (tokenizer_config.json carries it).
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|user|>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<|assistant|>{{ m['content'] }}<|end|>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
# Small enough to train in seconds on a CPU core, large enough to learn every answer of the corpus.
MODEL_SHAPE = {"n_embd": 96, "n_layer": 2, "n_head": 4, "n_positions": 128}


class LlmError(JobFailure):
    """The llm job's failures: bad input, a store or an endpoint that does not answer."""


@dataclass(frozen=True)
class Fact:
    question: str
    answer: str


def load_facts(path: Path) -> list[Fact]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        facts = [Fact(f["question"], f["answer"]) for f in document["facts"]]
    except OSError as exc:
        raise LlmError(f"corpus {path} unreadable: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise LlmError(f"corpus {path}: expected {{facts: [{{question, answer}}, ...]}}: {exc}") from exc
    if not facts:
        raise LlmError(f"corpus {path} has no facts: nothing to train on or to ask")
    if empty := [f.question for f in facts if not f.question.strip() or not f.answer.strip()]:
        raise LlmError(f"corpus {path}: facts with an empty question or answer: {empty}")
    return facts


# --- the model ----------------------------------------------------------------------------------
def tokenizer_for(facts: list[Fact]) -> Any:
    """A character tokenizer over the corpus's characters, with the chat template's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    characters = sorted(set("".join(f.question + f.answer for f in facts)) | set(" .,?!-'"))
    vocabulary = {token: i for i, token in enumerate([*SPECIALS.values(), *characters])}
    core = Tokenizer(models.WordLevel(vocabulary, unk_token=SPECIALS["pad"]))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=SPECIALS["pad"],
        eos_token=SPECIALS["end"],
        unk_token=SPECIALS["pad"],
        additional_special_tokens=[SPECIALS["user"], SPECIALS["assistant"]],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def conversation(fact: Fact, answered: bool = True) -> list[dict[str, str]]:
    turns = [{"role": "user", "content": fact.question}]
    return [*turns, {"role": "assistant", "content": fact.answer}] if answered else turns


def train(facts: list[Fact], steps: int, seed: int) -> tuple[Any, Any, float]:
    """The model fitted to the whole corpus (one batch); returns it, its tokenizer and the final loss."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tokenizer = tokenizer_for(facts)
    texts = [tokenizer.apply_chat_template(conversation(f), tokenize=False) for f in facts]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
        **MODEL_SHAPE,
    )
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        loss = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), tokenizer, loss.item()


# --- the object store ---------------------------------------------------------------------------
def publish(model: Any, tokenizer: Any, args: argparse.Namespace) -> int:
    """The Hugging Face folder to `--store-uri`, config.json last (servers key a model's version on it);
    returns the bytes written."""
    location = urlparse(args.store_uri)
    # gs:// through Cloud Storage's S3-interoperable API (the endpoints document's s3_url), as s3://.
    if location.scheme not in ("s3", "gs") or not location.netloc or not location.path.strip("/"):
        raise LlmError(f"--store-uri {args.store_uri!r}: expected s3://BUCKET/PREFIX or gs://BUCKET/PREFIX")
    try:
        client = s3_client(args.s3_url, args.s3_region, args.s3_credentials_file)
    except ObjectStoreError as exc:
        raise LlmError(str(exc)) from exc
    prefix = location.path.strip("/")
    with tempfile.TemporaryDirectory(prefix="cnai-llm-") as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        files = sorted(Path(folder).iterdir(), key=lambda f: f.name == "config.json")
        try:
            for file in files:
                client.upload_file(str(file), location.netloc, f"{prefix}/{file.name}")
        except (BotoCoreError, ClientError, OSError) as exc:
            raise LlmError(f"object_storage at {args.s3_url}: could not publish {args.store_uri}: {exc}") from exc
        return sum(f.stat().st_size for f in files)


# --- the endpoint -------------------------------------------------------------------------------
def client_for(args: argparse.Namespace) -> Any:
    from openai import OpenAI

    # No key on these endpoints (the local server is loopback-only; on a cluster the predictor is
    # reached inside the team's namespace); the client requires some string.
    return OpenAI(base_url=args.openai_url, api_key="cnai-smoke", timeout=args.timeout, max_retries=0)


def wait_listed(client: Any, model: str, timeout_s: float) -> float:
    """Seconds until the endpoint lists the model (a cluster's predictor loads it after publication)."""
    from openai import OpenAIError

    began, last = time.perf_counter(), "no answer yet"
    while time.perf_counter() - began < timeout_s:
        try:
            if model in {m.id for m in client.models.list()}:
                return time.perf_counter() - began
            last = "the model is not listed yet"
        except OpenAIError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(1)
    raise LlmError(f"kserve at {client.base_url}: {model} not served within {timeout_s:.0f}s ({last})")


def ask(client: Any, model: str, fact: Fact, max_tokens: int) -> str:
    reply = client.chat.completions.create(
        model=model, messages=conversation(fact, answered=False), max_tokens=max_tokens, temperature=0
    )
    return (reply.choices[0].message.content or "").strip()


@dataclass(frozen=True)
class Streamed:
    ttft_s: float
    latency_s: float
    text: str


def stream(client: Any, model: str, fact: Fact, max_tokens: int) -> Streamed:
    began = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    chunks = client.chat.completions.create(
        model=model, messages=conversation(fact, answered=False), max_tokens=max_tokens, temperature=0, stream=True
    )
    for chunk in chunks:
        piece = chunk.choices[0].delta.content if chunk.choices else None
        if piece:
            first = first if first is not None else time.perf_counter() - began
            pieces.append(piece)
    latency = time.perf_counter() - began
    return Streamed(first if first is not None else latency, latency, "".join(pieces))


def load(client: Any, model: str, facts: list[Fact], args: argparse.Namespace) -> tuple[list[Streamed], float]:
    """`--requests` streamed completions, at most `--concurrency` at a time; returns them and the wall time."""
    work = [facts[i % len(facts)] for i in range(args.requests)]
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        return timed(lambda: list(pool.map(lambda f: stream(client, model, f, args.max_tokens), work)))


# --- the job ------------------------------------------------------------------------------------
def serve_and_measure(device: torch.device, args: argparse.Namespace) -> JobResult:
    from openai import OpenAIError

    facts = load_facts(args.corpus)
    name = urlparse(args.store_uri).path.rstrip("/").rsplit("/", 1)[-1]
    client = client_for(args)
    timings: dict[str, float] = {}
    (model, tokenizer, loss), timings["train_s"] = timed(lambda: train(facts, args.steps, args.seed))
    published, timings["publish_s"] = timed(lambda: publish(model, tokenizer, args))
    timings["until_listed_s"] = wait_listed(client, name, args.ready_timeout)
    try:
        answers, timings["answers_s"] = timed(lambda: [ask(client, name, f, args.max_tokens) for f in facts])
        streamed, wall_s = load(client, name, facts, args)
    except OpenAIError as exc:
        raise LlmError(f"kserve at {args.openai_url}: {type(exc).__name__}: {exc}") from exc
    correct = [f.question for f, a in zip(facts, answers, strict=True) if a == f.answer]
    tokens = sum(len(tokenizer(s.text, add_special_tokens=False)["input_ids"]) for s in streamed)
    verdict = llm_verdict(len(correct) / len(facts))
    return JobResult(
        "llm",
        verdict.status,
        device_info(device),
        metrics={
            "answer_accuracy": round(len(correct) / len(facts), 4),
            "wrong_answers": {f.question: a for f, a in zip(facts, answers, strict=True) if a != f.answer},
            "ttft_ms_p50": round(percentile([s.ttft_s * 1000 for s in streamed], 50), 2),
            "ttft_ms_p99": round(percentile([s.ttft_s * 1000 for s in streamed], 99), 2),
            "latency_ms_p50": round(percentile([s.latency_s * 1000 for s in streamed], 50), 2),
            "latency_ms_p99": round(percentile([s.latency_s * 1000 for s in streamed], 99), 2),
            "tokens_per_s": round(tokens / wall_s, 1),
            "requests": args.requests,
            "concurrency": args.concurrency,
            "train_loss": round(loss, 4),
            "parameters": sum(p.numel() for p in model.parameters()),
            "published_bytes": published,
            "model": name,
            "endpoint": args.openai_url,
        },
        expected=verdict.expected,
        timings={k: round(v, 3) for k, v in timings.items()} | {"load_s": round(wall_s, 3)},
        message=f"{verdict.reason}; {args.requests} streamed requests, {args.concurrency} at a time",
    )


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--openai-url", required=True, help="the OpenAI API's base URL, .../v1")
    p.add_argument("--store-uri", required=True, help="s3:// or gs://BUCKET/PREFIX/<model>: where it is published")
    p.add_argument("--s3-url", help="object store (else AWS's)")
    p.add_argument("--s3-region", default="us-east-1")
    p.add_argument("--s3-credentials-file", help="JSON with access_key and secret_key (else AWS_* variables)")
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--requests", type=int, default=32)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=60, help="seconds for each API call")
    p.add_argument("--ready-timeout", type=float, default=60, help="seconds for the model to be listed")
    args = p.parse_args(argv)
    return run_job("llm", lambda d: serve_and_measure(d, args))


if __name__ == "__main__":
    sys.exit(main())
