"""Every workload cnai pins to a GPU pool fits the pool's node after the kubelet's reservation."""

from __future__ import annotations

import pytest

from modules.components import fit
from tests.specs import CLOUD_STAND_INS, stand_in_spec


@pytest.mark.parametrize("env", CLOUD_STAND_INS)
def test_every_pool_workload_fits_its_node(env: str):
    spec = stand_in_spec(env)
    placed = {(who, pool.name) for who, pool, _ in fit.pool_workloads(spec)}
    # The smoke jobs of every pool with a queue, and the GPU runtime on every pool, were all looked at.
    assert {pool for _, pool in placed} == {p.name for p in spec.gpu_pools}
    assert fit.fit_errors(spec) == []


def test_a_workload_larger_than_the_node_is_named_with_both_figures(monkeypatch):
    spec = stand_in_spec("dev")
    pool = spec.gpu_pools[0]
    wants = fit.Requests(cpu_millis=4000, memory_mib=32768)  # what the vLLM runtime asked until it was checked
    monkeypatch.setattr(fit, "pool_workloads", lambda s: iter([("ClusterServingRuntime cnai-vllm", pool, wants)]))
    [error] = fit.fit_errors(spec)
    assert error.path == "gpu_pools[0]"
    instance, offers = fit.pool_node(spec, pool)
    assert f"requests 4000m CPU and 32768 MiB; a {instance} node of pool {pool.name}" in error.message
    assert f"has {offers.cpu_millis}m and {offers.memory_mib} MiB allocatable" in error.message


def test_a_pod_reserves_its_containers_or_its_largest_init_container():
    pod = {
        "initContainers": [{"resources": {"requests": {"cpu": "3", "memory": "1Gi"}}}],
        "containers": [
            {"resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}},
            {"resources": {"requests": {"cpu": "1", "memory": "512Mi"}}},
        ],
    }
    assert fit.pod_requests(pod) == fit.Requests(cpu_millis=3000, memory_mib=2560)


def test_machines_cnai_does_not_pick_are_not_judged():
    spec = stand_in_spec("onprem")
    assert all(fit.pool_node(spec, pool) is None for pool in spec.gpu_pools)
