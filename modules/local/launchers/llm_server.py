"""An OpenAI-compatible server for generative models the platform publishes to its object store: the
local counterpart of the cluster's vLLM runtime (modules/components/kserve.py), so the smoke suite's
LLM check runs the same client code against both.

Run with the llm_server virtualenv's Python: `python llm_server.py --port P --s3-url URL --bucket B
--prefix llm --cache DIR`. A model is a Hugging Face folder (config, safetensors weights, tokenizer with
a chat template) under `s3://B/llm/<name>/`, exactly what a KServe InferenceService's storageUri names; the
server fetches it on the first request that names it, and again when the published copy changes.

API (the subset of OpenAI's that vLLM serves and the smoke suite uses): GET /v1/models, POST
/v1/chat/completions (`stream` as server-sent events, `max_tokens`, `temperature`), GET /health,
GET /metrics (Prometheus: requests running and waiting, time to first token, tokens generated).
Errors come in OpenAI's shape ({"error": {"message", "type", "code"}}) with 400/404/503.
Where OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names the collector (the local runtime sets it), each generation
is a span `chat <model>` with OpenTelemetry's gen_ai attributes, sent over OTLP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import torch
import uvicorn
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

MAX_TOKENS_LIMIT = 512
# Generation is CPU-bound in this process: more at once only slows each. The rest wait (and are counted).
CONCURRENCY = 2

RUNNING = Gauge("cnai_llm_requests_running", "requests generating now")
WAITING = Gauge("cnai_llm_requests_waiting", "requests waiting for a generation slot")
TTFT = Histogram(
    "cnai_llm_time_to_first_token_seconds",
    "from request to the first generated token",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TOKENS = Counter("cnai_llm_generation_tokens_total", "tokens generated")
REQUESTS = Counter("cnai_llm_requests_total", "chat completion requests, by outcome", ["outcome"])
TRACER = trace.get_tracer("cnai.llm_server")  # a no-op until configure_tracing() sets a provider


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    version: str  # when and what the published config is: a new publication is loaded again


class Models:
    """Models fetched from the object store into a cache folder, loaded once each."""

    def __init__(self, s3: Any, bucket: str, prefix: str, cache: Path) -> None:
        self.s3, self.bucket, self.prefix, self.cache = s3, bucket, prefix, cache
        self.loaded: dict[str, Loaded] = {}
        self.lock = threading.Lock()

    def published(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/", Delimiter="/"
        )
        return sorted(p["Prefix"].split("/")[1] for page in pages for p in page.get("CommonPrefixes", []))

    def get(self, name: str) -> Loaded:
        with self.lock:
            try:
                head = self.s3.head_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}/config.json")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    raise ApiError(404, f"The model `{name}` does not exist.", "model_not_found") from exc
                raise
            # Publishers write config.json last; a retrained model may keep the same config (same ETag).
            version = f"{head['ETag']}@{head['LastModified'].isoformat()}"
            current = self.loaded.get(name)
            if current is None or current.version != version:
                self.loaded[name] = self._load(name, version)
            return self.loaded[name]

    def _load(self, name: str, version: str) -> Loaded:
        folder = self.cache / name
        folder.mkdir(parents=True, exist_ok=True)
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/{name}/")
        for item in (i for page in pages for i in page.get("Contents", [])):
            relative = item["Key"].removeprefix(f"{self.prefix}/{name}/")
            if relative and "/" not in relative:  # a flat Hugging Face folder
                self.s3.download_file(self.bucket, item["Key"], str(folder / relative))
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        if tokenizer.chat_template is None:
            raise ApiError(400, f"The model `{name}` has no chat template.", "no_chat_template")
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
        return Loaded(model, tokenizer, version)


@dataclass(frozen=True)
class Chat:
    model: str
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    stream: bool


def parse_chat(body: Any) -> Chat:
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.", "invalid_body")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "`model` is required: a model name from GET /v1/models.", "invalid_model")
    valid = isinstance(messages, list) and messages
    if not valid or not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
        raise ApiError(400, "`messages` must be a non-empty list of {role, content} objects.", "invalid_messages")
    max_tokens = next((body[k] for k in ("max_tokens", "max_completion_tokens") if body.get(k) is not None), 64)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        raise ApiError(400, f"`max_tokens` must be an integer from 1 to {MAX_TOKENS_LIMIT}.", "invalid_max_tokens")
    temperature = body.get("temperature", 1.0)
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise ApiError(400, "`temperature` must be a number from 0 to 2.", "invalid_temperature")
    return Chat(model, messages, max_tokens, float(temperature), bool(body.get("stream", False)))


def generate(loaded: Loaded, chat: Chat) -> Iterator[str]:
    """The reply's text pieces as the model makes them (greedy at temperature 0)."""
    tokenizer = loaded.tokenizer
    inputs = tokenizer.apply_chat_template(
        chat.messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    sampling = {"do_sample": True, "temperature": chat.temperature} if chat.temperature > 0 else {"do_sample": False}
    settings = dict(
        **inputs,
        max_new_tokens=chat.max_tokens,
        streamer=streamer,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **sampling,
    )

    def run() -> None:
        with torch.inference_mode():
            loaded.model.generate(**settings)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    yield from (piece for piece in streamer if piece)
    worker.join()


def app(models: Models) -> FastAPI:
    api = FastAPI(title="cnai local LLM server")
    slots = asyncio.Semaphore(CONCURRENCY)

    @api.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        REQUESTS.labels("error").inc()
        error = {"message": exc.message, "type": exc.kind, "code": exc.code, "param": None}
        return JSONResponse({"error": error}, status_code=exc.status)

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @api.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        names = await asyncio.to_thread(reachable, models.published)
        return {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "cnai"} for n in names]}

    @api.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            body = await request.json()
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"The body is not JSON: {exc}", "invalid_json") from exc
        chat = parse_chat(body)
        loaded = await asyncio.to_thread(reachable, lambda: models.get(chat.model))
        started, reply_id, created = time.perf_counter(), f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        pieces = aiter_pieces(loaded, chat, started, slots)
        if chat.stream:
            return StreamingResponse(sse(pieces, chat.model, reply_id, created), media_type="text/event-stream")
        text = "".join([piece async for piece in pieces])
        REQUESTS.labels("ok").inc()
        prompt_tokens = len(loaded.tokenizer.apply_chat_template(chat.messages, add_generation_prompt=True))
        completion_tokens = len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
        return {
            "id": reply_id,
            "object": "chat.completion",
            "created": created,
            "model": chat.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    return api


def reachable(call: Any) -> Any:
    """A call to the object store, its failure as a 503 naming the store (not a traceback)."""
    try:
        return call()
    except (BotoCoreError, ClientError) as exc:
        raise ApiError(
            503, f"The object store did not answer: {exc}", "object_store_unavailable", "server_error"
        ) from exc


async def aiter_pieces(loaded: Loaded, chat: Chat, started: float, slots: asyncio.Semaphore) -> AsyncIterator[str]:
    """The generation thread's pieces, awaited one by one without blocking the event loop, once a
    generation slot is free. The slot is taken here, when the pieces are first asked for: a streamed
    reply whose client left before it began never holds one."""
    span = TRACER.start_span(
        f"chat {chat.model}",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": chat.model,
            "gen_ai.request.max_tokens": chat.max_tokens,
            "gen_ai.request.temperature": chat.temperature,
        },
    )
    WAITING.inc()
    try:
        await slots.acquire()
    finally:
        WAITING.dec()
    RUNNING.inc()
    pieces = generate(loaded, chat)
    first, output_tokens = True, 0
    try:
        while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
            if first:
                TTFT.observe(ttft := time.perf_counter() - started)
                span.set_attribute("cnai.time_to_first_token_s", ttft)
                first = False
            tokens = len(loaded.tokenizer(piece, add_special_tokens=False)["input_ids"])
            TOKENS.inc(tokens)
            output_tokens += tokens
            yield piece
    finally:
        RUNNING.dec()
        slots.release()
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        span.end()


async def sse(pieces: AsyncIterator[str], model: str, reply_id: str, created: int) -> AsyncIterator[str]:
    """OpenAI's streaming shape: a role chunk, a chunk per piece, a finish chunk, then [DONE]."""

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model}
        return f"data: {json.dumps(body | {'choices': [choice]})}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    async for piece in pieces:
        yield chunk({"content": piece})
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"
    REQUESTS.labels("ok").inc()


def configure_tracing() -> None:
    """Spans over OTLP/HTTP where the environment names a traces endpoint (the exporter reads it)."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": "llm_server"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--s3-url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", required=True, help="models are folders under s3://BUCKET/PREFIX/<name>/")
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core per generation; CONCURRENCY of them at once
    configure_tracing()
    s3 = boto3.client("s3", endpoint_url=args.s3_url)
    uvicorn.run(
        app(Models(s3, args.bucket, args.prefix, args.cache)), host=args.host, port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
