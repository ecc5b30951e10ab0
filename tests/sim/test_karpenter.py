"""EKS GPU pools scale from zero and back, proven with the real Karpenter (its kwok cloud provider) and
the real Kueue: dev's sim starts with no node in its GPU pool; a smoke Job Kueue admits onto the pool's
flavor gets a node of the pool's instance type, capacity type, labels and taint from Karpenter, runs,
and once the node is empty Karpenter removes it. Every verdict is read from the API: the Job's and
NodeClaim's status, the Node objects. Its own sim (dev only, Karpenter on), beside the session's."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modules.cluster import apply as kube
from modules.cluster.apply import is_true
from modules.components.karpenter import NODE_POOL_API
from modules.components.kserve import SMOKE_LLM
from modules.components.smoke_jobs import smoke_jobs
from modules.sim.runtime import SimRuntime
from modules.sim.servers import SimPaths, SimPorts
from modules.sim.smoke import platform_objects, stand_in_secrets
from modules.spec.models import POOL_LABEL
from tests.sim.conftest import BuiltSim, built, require_binaries

pytestmark = pytest.mark.sim
WAIT = float(os.environ.get("CNAI_SIM_JOB_TIMEOUT", "60")) * 2  # a launch is a batch window plus registration
KARPENTER_GROUPS = ("karpenter.sh", "karpenter.k8s.aws", "karpenter.kwok.sh")


@pytest.fixture(scope="module")
def autoscaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimRuntime]:
    require_binaries()
    base = int(os.environ.get("CNAI_SIM_TEST_PORT_BASE", "27400")) + 50  # beside the session's sim
    runtime = BuiltSim(
        ("dev",), SimPaths(tmp_path_factory.mktemp("sim-karpenter")), SimPorts.from_base(base), karpenter=True
    )
    runtime.up()
    try:
        yield runtime
    finally:
        runtime.down()


def items(dyn: Any, api_version: str, kind: str, **selectors: str) -> list[dict[str, Any]]:
    return dyn.resources.get(api_version=api_version, kind=kind).get(**selectors).to_dict()["items"]


def test_an_admitted_gpu_job_gets_its_pools_node_from_zero_and_the_empty_node_goes(autoscaled: SimRuntime):
    spec = built("dev")
    [pool] = spec.gpu_pools
    dyn = autoscaled.client()
    pool_nodes = {"label_selector": f"{POOL_LABEL}={pool.name}"}
    assert items(dyn, "v1", "Node", **pool_nodes) == []  # scaled to zero: no node until work needs one

    # Without the smoke LLM's predictor: a second GPU consumer, which Karpenter would rightly give a node
    # of its own (this test follows one Job's node from zero and back).
    platform = [
        o
        for o in platform_objects(spec)
        if o["apiVersion"].split("/")[0] not in KARPENTER_GROUPS and o["metadata"]["name"] != SMOKE_LLM
    ]
    kube.apply_all(dyn, [*platform, *stand_in_secrets(spec)], retries_for_webhooks=30)
    job = next(j for j in smoke_jobs(spec) if j["spec"]["template"]["spec"].get("tolerations"))
    submitted = time.monotonic()
    kube.apply_all(dyn, [job])
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]

    kube.wait_for(lambda: items(dyn, "v1", "Node", **pool_nodes) or None, WAIT, "a node of the GPU pool")
    launched = time.monotonic() - submitted
    jobs = dyn.resources.get(api_version="batch/v1", kind="Job")
    kube.wait_for(lambda: is_true(jobs.get(name=name, namespace=namespace).to_dict(), "Complete"), WAIT, "Job done")
    [node] = items(dyn, "v1", "Node", **pool_nodes)  # registered by now: Karpenter has set its taints
    labels = node["metadata"]["labels"]
    assert labels["node.kubernetes.io/instance-type"] == pool.facts.eks_instance_types[pool.gpus_per_node]
    assert labels["karpenter.sh/capacity-type"] == ("spot" if pool.spot else "on-demand")
    assert labels["karpenter.sh/nodepool"] == pool.name
    assert labels["topology.kubernetes.io/zone"] in spec.cluster.zones
    assert pool.node_labels.items() <= labels.items()
    taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"].get("taints", [])}
    assert taints == {(t["key"], t["value"], t["effect"]) for t in pool.taints}  # and no longer "unregistered"
    [claim] = items(dyn, NODE_POOL_API, "NodeClaim")
    assert claim["status"]["nodeName"] == node["metadata"]["name"] and is_true(claim, "Initialized")
    [pod] = items(dyn, "v1", "Pod", namespace=namespace, label_selector=f"job-name={name}")
    assert pod["spec"]["nodeName"] == node["metadata"]["name"]
    print(f"pending GPU job -> node of pool {pool.name} in {launched:.1f}s")  # figure for docs/sim.md

    # Empty now: with the consolidation delay cut from the NodePool's 5 minutes, Karpenter removes it.
    jobs.delete(name=name, namespace=namespace, body={"propagationPolicy": "Foreground"})
    pools = dyn.resources.get(api_version=NODE_POOL_API, kind="NodePool")
    pools.patch(
        name=pool.name,
        body={"spec": {"disruption": {"consolidateAfter": "0s"}}},
        content_type="application/merge-patch+json",
    )
    kube.wait_for(lambda: items(dyn, "v1", "Node", **pool_nodes) == [], WAIT, "the empty node removed")
    # Its NodeClaim goes after the node: Karpenter's termination finalizer is removed once the instance is
    # gone (seen in CI: the claim still `InstanceTerminating` right after the node).
    kube.wait_for(lambda: items(dyn, NODE_POOL_API, "NodeClaim") == [], WAIT, "the node's NodeClaim removed")
