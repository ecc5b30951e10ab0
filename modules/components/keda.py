"""KEDA: what scales LLM predictors on a serving metric. KServe's `autoscalerClass: keda` turns an
InferenceService's `autoScaling` into a KEDA ScaledObject, whose Prometheus trigger reads vLLM's queue
(requests waiting) and drives the predictor's HorizontalPodAutoscaler through KEDA's external
metrics API. Installed where the platform serves LLMs (the vLLM runtime on a GPU pool) and runs
Prometheus to read their metrics from."""

from __future__ import annotations

from modules.components.registry import Component, Release
from modules.spec import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES

NAMESPACE = PLATFORM_NAMESPACES["keda"]
METRICS_API_PORT = 6443  # the external metrics API the API server calls (its APIService)
WEBHOOK_PORT = 9443


def autoscales_llms(spec: Spec) -> bool:
    c = spec.components
    serves_llms = c.kserve.enabled and "vllm" in c.kserve.runtimes and bool(spec.gpu_pools)
    return serves_llms and c.observability.enabled


COMPONENT = Component(
    key="keda",
    name="keda",
    namespace=NAMESPACE,
    enabled=autoscales_llms,
    # The chart's defaults are secure (non-root, no privilege escalation, read-only root, seccomp
    # RuntimeDefault, every capability dropped): Pod Security `restricted` admits them as they are.
    releases=(Release("keda", "chart"),),
    calls=("prometheus",),  # its ScaledObjects' Prometheus triggers
    wait_ready=True,
    api_client="KEDA's operator and metrics server",
    api_callbacks=(METRICS_API_PORT, WEBHOOK_PORT),
    pulumi_type="Keda",
)
