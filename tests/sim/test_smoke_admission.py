"""The real proof: every pool's GPU smoke Jobs, as cnai authors them, admitted by the real Kueue into the
right ClusterQueue and flavor, bound by the real scheduler to that pool's nodes, and completed (kwok).

Each emulated environment's objects are applied (server-side, field manager `cnai`) in turn: the
security baseline (namespaces, quotas, RBAC), the Kueue objects, then the smoke Jobs; afterwards they
are deleted so the next environment's queues (same team names) start clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from modules.k8s.kueue import flavor_name, kueue_objects
from modules.k8s.security import security_objects
from modules.k8s.smoke_jobs import smoke_jobs
from modules.sim import apply as kube
from modules.sim.runtime import SimRuntime
from modules.spec import load_spec
from modules.spec.models import GPU_RESOURCE, POOL_LABEL

pytestmark = pytest.mark.sim
WAIT = float(os.environ.get("CNAI_SIM_JOB_TIMEOUT", "60"))
# Known not to fit (issue 15): the GPU smoke Job asks for 4 CPU / 16 Gi, a g5.xlarge node has
# 3920m / 14.47 Gi allocatable. Strict: the test fails once the request is fixed, to drop this mark.
DOES_NOT_FIT: dict[tuple[str, str], str] = {}  # (env, pool) -> why its smoke Jobs cannot be placed


def _jobs(env: str) -> list[tuple[str, str, dict[str, Any]]]:
    spec = load_spec(env)
    return [(env, job["spec"]["template"]["spec"]["nodeSelector"][POOL_LABEL], job) for job in smoke_jobs(spec)]


CASES = [
    pytest.param(
        env,
        pool,
        job["metadata"]["name"],
        id=f"{env}-{job['metadata']['name']}",
        marks=[pytest.mark.xfail(strict=True, reason=DOES_NOT_FIT[(env, pool)])] if (env, pool) in DOES_NOT_FIT else [],
    )
    for env in ("prod", "dev")
    for env, pool, job in _jobs(env)
]
RESULTS: dict[str, dict[str, Any]] = {}


def _delete_all(dyn: Any, objects: list[dict[str, Any]]) -> None:
    for obj in reversed(objects):
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        meta = obj["metadata"]
        with contextlib.suppress(ApiException):  # already gone
            resource.delete(
                name=meta["name"], namespace=meta.get("namespace"), body={"propagationPolicy": "Background"}
            )


@pytest.fixture(scope="module")
def applied(sim: SimRuntime) -> Iterator[dict[str, Any]]:
    """Per environment, in CASES order: its objects applied while its cases run, deleted after."""
    state: dict[str, Any] = {"env": None, "objects": [], "counts": {}}
    dyn = sim.client()

    def switch(env: str) -> None:
        if state["env"] == env:
            return
        if state["objects"]:
            _delete_all(dyn, state["objects"])
            _wait_queues_gone(dyn)
        spec = load_spec(env)
        groups = {"security": security_objects(spec), "kueue": kueue_objects(spec), "smoke-jobs": smoke_jobs(spec)}
        objects: list[dict[str, Any]] = []
        for name, group in groups.items():
            # Kueue's webhooks may need a moment after the queues appear; the apply retries for 30s.
            kube.apply_all(dyn, group, retries_for_webhooks=30)
            objects += group
            state["counts"][f"{env}/{name}"] = len(group)
        state.update(env=env, objects=[o for o in objects if o["kind"] != "Namespace"])

    state["switch"] = switch
    yield state
    if state["objects"]:
        _delete_all(dyn, state["objects"])
    report = os.environ.get("CNAI_SIM_TEST_REPORT")
    if report:
        with open(report, "w") as handle:
            json.dump({"applied": state["counts"], "jobs": RESULTS}, handle, indent=2)


def _wait_queues_gone(dyn: Any) -> None:
    queues = dyn.resources.get(api_version="kueue.x-k8s.io/v1beta2", kind="ClusterQueue")
    kube.wait_for(lambda: not queues.get().to_dict()["items"], 60, "ClusterQueues deleted")


def _workload(dyn: Any, namespace: str, job_uid: str) -> dict[str, Any] | None:
    workloads = dyn.resources.get(api_version="kueue.x-k8s.io/v1beta2", kind="Workload")
    for item in workloads.get(namespace=namespace).to_dict()["items"]:
        if any(ref["uid"] == job_uid for ref in item["metadata"].get("ownerReferences", [])):
            return item
    return None


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition["type"] == kind:
            return condition
    return None


@pytest.mark.parametrize(("env", "pool", "job_name"), CASES)
def test_smoke_job_admitted_into_its_pools_flavor_placed_on_its_nodes_and_completed(
    sim: SimRuntime, applied: dict[str, Any], env: str, pool: str, job_name: str
):
    applied["switch"](env)
    spec = load_spec(env)
    team = next(t for t in spec.teams if any(q.pool == pool for q in t.gpu_quotas))
    dyn = sim.client()
    jobs = dyn.resources.get(api_version="batch/v1", kind="Job")
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    nodes = dyn.resources.get(api_version="v1", kind="Node")
    namespace = team.namespace_name
    job = jobs.get(name=job_name, namespace=namespace).to_dict()
    outcome: dict[str, Any] = {"env": env, "pool": pool, "queue": team.name}
    RESULTS[f"{env}/{job_name}"] = outcome

    deadline = time.monotonic() + WAIT
    workload = None
    while time.monotonic() < deadline:
        workload = _workload(dyn, namespace, job["metadata"]["uid"])
        admitted = _condition(workload, "Admitted")
        if admitted and admitted["status"] == "True":
            break
        time.sleep(0.5)
    admitted = _condition(workload, "Admitted")
    outcome["admitted"] = bool(admitted and admitted["status"] == "True")
    quota = _condition(workload, "QuotaReserved")
    outcome["admission_message"] = (quota or admitted or {}).get("message")
    assert outcome["admitted"], f"{job_name} not admitted within {WAIT:.0f}s: {workload and workload.get('status')}"
    admission = workload["status"]["admission"]
    outcome["cluster_queue"] = admission["clusterQueue"]
    flavors = admission["podSetAssignments"][0]["flavors"]
    outcome["flavor"] = flavors.get(GPU_RESOURCE)
    assert admission["clusterQueue"] == team.name
    assert flavors[GPU_RESOURCE] == flavor_name(spec.pool(pool))

    selector = f"batch.kubernetes.io/job-name={job_name}"
    bound: list[dict[str, Any]] = []
    while time.monotonic() < deadline + WAIT:
        found = pods.get(namespace=namespace, label_selector=selector).to_dict()["items"]
        bound = [p for p in found if p["spec"].get("nodeName")]
        if found and len(bound) == len(found):
            break
        # The scheduler's verdict on static nodes is final: no need to wait out the timeout.
        refused = [p for p in found if (_condition(p, "PodScheduled") or {}).get("reason") == "Unschedulable"]
        if found and len(bound) + len(refused) == len(found) and refused:
            break
        time.sleep(0.5)
    unbound = [
        p
        for p in pods.get(namespace=namespace, label_selector=selector).to_dict()["items"]
        if not p["spec"].get("nodeName")
    ]
    outcome["unschedulable"] = [(_condition(p, "PodScheduled") or {}).get("message") for p in unbound]
    assert bound and not unbound, f"{job_name}: pods not bound: {outcome['unschedulable']}"
    outcome["nodes"] = sorted({p["spec"]["nodeName"] for p in bound})
    for name in outcome["nodes"]:
        assert nodes.get(name=name).to_dict()["metadata"]["labels"][POOL_LABEL] == pool

    complete = kube.wait_for(
        lambda: _condition(jobs.get(name=job_name, namespace=namespace).to_dict(), "Complete"),
        WAIT,
        f"{job_name} Complete",
    )
    outcome["completed"] = complete["status"] == "True"
    assert outcome["completed"]
