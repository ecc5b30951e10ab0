"""Finding a span in MLflow's trace store, where the collector files the platform's traces."""

from __future__ import annotations

import time

import mlflow
from mlflow.entities import Span


def find_span(mlflow_url: str, experiment_id: str, name: str, since_ns: int = 0, timeout_s: float = 30) -> Span | None:
    """The newest span called `name` that started at or after `since_ns`, polled for up to `timeout_s`
    (the collector batches, MLflow files asynchronously)."""
    mlflow.set_tracking_uri(mlflow_url)
    deadline = time.monotonic() + timeout_s
    while True:
        traces = mlflow.search_traces(
            locations=[experiment_id], return_type="list", max_results=50, order_by=["timestamp_ms DESC"]
        )
        found = [s for t in traces for s in t.data.spans if s.name == name and s.start_time_ns >= since_ns]
        if found or time.monotonic() > deadline:
            return max(found, key=lambda s: s.start_time_ns) if found else None
        time.sleep(1)
