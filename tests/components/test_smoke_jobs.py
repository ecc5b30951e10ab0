"""Smoke jobs as Kueue-queued Jobs: queue label, pool placement, GPU requests, non-root, gangs."""

from __future__ import annotations

import pytest

from modules.components.endpoints import cluster_endpoints
from modules.components.smoke_jobs import smoke_job, smoke_jobs
from modules.spec import load_spec
from tests.components.validation import validation_errors


def test_jobs_target_their_pool_through_the_team_queue():
    spec = load_spec("prod")
    jobs = {j["metadata"]["name"]: j for j in smoke_jobs(spec)}
    gemm = jobs["cnai-smoke-h100-train-gemm"]
    labels = gemm["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "research"
    assert labels["kueue.x-k8s.io/priority-class"] == "smoke"
    pod = gemm["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == spec.pool("h100-train").node_labels
    assert pod["tolerations"] == spec.pool("h100-train").tolerations
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert (
        pod["securityContext"]["runAsNonRoot"]
        and not pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    )


def test_shared_pools_get_one_unit_and_no_peak_ratios():
    jobs = {j["metadata"]["name"] for j in smoke_jobs(load_spec("prod"))}
    assert {"cnai-smoke-a100-mig-inventory", "cnai-smoke-a100-mig-correctness"} <= jobs
    assert "cnai-smoke-a100-mig-gemm" not in jobs
    [inventory] = [j for j in smoke_jobs(load_spec("dev")) if j["metadata"]["name"].endswith("inventory")]
    assert inventory["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_multi_node_job_is_one_indexed_gang():
    spec = load_spec("prod")
    job = smoke_job(spec, spec.teams[0], "allreduce", [], spec.pool("h100-train"), nodes=4)
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 4
    assert validation_errors(job) == []


def test_a_gang_larger_than_the_pool_is_refused():
    spec = load_spec("prod")
    with pytest.raises(ValueError, match="at most 4"):
        smoke_job(spec, spec.teams[0], "allreduce", [], spec.pool("h100-train"), nodes=5)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_endpoints_name_every_pool_with_its_queue(env):
    spec = load_spec(env)
    endpoints = cluster_endpoints(spec)
    assert [p.name for p in endpoints.gpu_pools] == [p.name for p in spec.gpu_pools]
    assert all(p.local_queue for p in endpoints.gpu_pools)
    assert endpoints.kubernetes.local_queues
    assert endpoints.prometheus_url and endpoints.mlflow_url


FIELD_FOR = {
    "object_storage": "object_store",
    "mlflow": "mlflow_url",
    "kserve": "inference",
    "vector_db": "vector_db_uri",
    "observability": "prometheus_url",
}


@pytest.mark.parametrize("env", ["kind", "dev", "prod"])
def test_endpoints_have_every_field_the_smoke_suite_reads(env):
    endpoints = cluster_endpoints(load_spec(env))
    for component, field in FIELD_FOR.items():
        if endpoints.components[component] == "enabled":
            assert getattr(endpoints, field), f"{env}: {component} enabled but endpoints.{field} is empty"
    assert endpoints.otlp_traces_url and endpoints.kubernetes.context
    # Round-trips through JSON as the stack output does.
    assert type(endpoints).model_validate_json(endpoints.model_dump_json()) == endpoints


def test_multi_gpu_jobs_get_a_shared_memory_volume_for_nccl():
    """docs/troubleshooting.md: NCCL needs more /dev/shm than a container's 64 MiB across GPUs of a node."""
    jobs = {j["metadata"]["name"]: j for j in smoke_jobs(load_spec("prod"))}
    pod = jobs["cnai-smoke-h100-train-allreduce"]["spec"]["template"]["spec"]
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "shm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]
    one_unit = jobs["cnai-smoke-a100-mig-inventory"]["spec"]["template"]["spec"]
    assert all(v["name"] != "shm" for v in one_unit["volumes"])
