"""inference: the registered model served over OIP v2 answers exactly what the model says in-process.

Reports latency p50/p99 and throughput of single-row requests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import httpx
import mlflow
import numpy as np
import torch

from smoke_tests.jobs.common import device_info, parser, run_job
from smoke_tests.jobs.train import FEATURES
from smoke_tests.result import JobResult

TOLERANCE = 1e-5


def v2_request(rows: np.ndarray) -> dict:
    return {
        "inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP32", "data": rows.flatten().tolist()}]
    }


def v2_outputs(body: dict) -> np.ndarray:
    output = body["outputs"][0]
    return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])


def wait_ready(client: httpx.Client, model: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(f"/v2/models/{model}/ready").status_code == 200:
            return
        time.sleep(0.5)
    raise TimeoutError(f"model {model} not ready at {client.base_url} within {timeout:.0f}s")


def inference(device: torch.device, args: argparse.Namespace) -> JobResult:
    mlflow.set_tracking_uri(args.mlflow_url)
    probe = np.random.default_rng(1).standard_normal((32, FEATURES)).astype(np.float32)
    in_process = np.asarray(mlflow.pyfunc.load_model(args.model_uri).predict(probe), dtype=np.float32)
    with httpx.Client(base_url=args.inference_url, timeout=30) as client:
        wait_ready(client, args.model_name, args.ready_timeout)
        infer = f"/v2/models/{args.model_name}/infer"
        response = client.post(infer, json=v2_request(probe))
        response.raise_for_status()
        served = v2_outputs(response.json())
        latencies = []
        began = time.perf_counter()
        for i in range(args.requests):
            start = time.perf_counter()
            client.post(infer, json=v2_request(probe[i % len(probe)][None, :])).raise_for_status()
            latencies.append((time.perf_counter() - start) * 1000)
        elapsed = time.perf_counter() - began
    max_abs_diff = float(np.abs(served.reshape(in_process.shape) - in_process).max())
    equal = max_abs_diff <= TOLERANCE
    quantiles = statistics.quantiles(latencies, n=100)
    return JobResult(
        "inference",
        "pass" if equal else "fail",
        device_info(device),
        metrics={
            "max_abs_diff": max_abs_diff,
            "latency_ms_p50": round(quantiles[49], 3),
            "latency_ms_p99": round(quantiles[98], 3),
            "throughput_rps": round(args.requests / elapsed, 1),
            "requests": args.requests,
            "latencies_ms": [round(v, 3) for v in latencies],
        },
        expected={"max_abs_diff_at_most": TOLERANCE},
        message="served outputs equal in-process predictions" if equal else "served outputs differ",
    )


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--mlflow-url", required=True)
    p.add_argument("--inference-url", required=True)
    p.add_argument("--model-uri", required=True)
    p.add_argument("--model-name", default="cnai-smoke-mlp")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--ready-timeout", type=float, default=120)
    args = p.parse_args(argv)
    return run_job("inference", lambda d: inference(d, args))


if __name__ == "__main__":
    sys.exit(main())
