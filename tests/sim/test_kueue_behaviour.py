"""What the spec declares about batch admission, proven against the real Kueue controller: team quotas,
cohort borrowing within borrowingLimit, fair sharing, preemption by priority class, and all-or-nothing
admission of multi-node gangs (Indexed Jobs, and JobSets with the real JobSet controller). Every verdict
is read from Kueue's own status: Workload conditions (QuotaReserved, Admitted, Evicted, Preempted,
PodsReady), `status.admission` (ClusterQueue, flavors, count) and ClusterQueue usage, as Kueue's e2e
tests read them.

Each test builds its spec from the built `prod` document (tests/specs.py; its GPU pools are ones the sim has nodes
for), with the teams and quotas the case needs; quotas are whole smoke pods of the pool, derived from
the pool's facts (`gpus_requested`, `max_nodes`).

Quota holders. kwok completes every Job pod the moment it runs (its `pod-complete` stage), so an
admitted Job gives its quota back within a second and cannot hold it. What holds quota here are plain
Pods with the smoke Job's pod template (same requests, pool selector, tolerations, queue and priority
labels), admitted through Kueue's `pod` integration, which cnai enables: kwok keeps them Running and
Ready. They must be Ready (bound to a node): cnai's Kueue blocks every admission while an admitted
workload is not (`waitForPodsReady.blockAdmission`), so a holder never exceeds the pool's nodes. The
subjects whose admission is in question are Jobs from `smoke_job`, as cnai submits them.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from kubernetes import watch
from kubernetes.client import CustomObjectsApi
from kubernetes.dynamic.exceptions import NotFoundError
from rich.console import Console

from modules.cluster import apply as kube
from modules.cluster.apply import condition, is_true
from modules.cluster.smoke import SmokeRun, job_checks, job_outcomes, owned_workload
from modules.components.kueue import API as KUEUE_API
from modules.components.kueue import PRIORITIES, flavor_name, kueue_objects
from modules.components.objects import k8s_object
from modules.components.security import team_objects
from modules.components.smoke_jobs import (
    COORDINATOR_ANNOTATION,
    CPU_PER_GPU,
    GANG_NODES,
    GANG_WORKERS,
    JOBSET_UID_LABEL,
    MEMORY_GIB_PER_GPU,
    SMOKE_PRIORITY,
    ddp_gang,
    gpus_requested,
    smoke_job,
)
from modules.sim.runtime import SimRuntime
from modules.sim.smoke import wait_queues_gone
from modules.spec import GpuPool, Spec, Team, validate
from modules.spec.models import GPU_RESOURCE, POOL_LABEL
from tests import specs

pytestmark = pytest.mark.sim
WAIT = float(os.environ.get("CNAI_SIM_JOB_TIMEOUT", "60"))  # for something expected to happen
SETTLE = WAIT / 20  # how long a verdict must hold once Kueue has given it (3 s by default)
ENV = "prod"  # the emulated environment whose document the specs start from
POOL = "h100-train"  # one of its pools: whole GPUs, several nodes
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
INSUFFICIENT = f"insufficient unused quota for {GPU_RESOURCE} in flavor"
EXCEEDS = f"insufficient quota for {GPU_RESOURCE} in flavor"
# The QuotaReserved reason of a pending workload: "Pending" unless Kueue's UnadmittedWorkloadsObservability
# gate (off in v0.19) gives the granular ones.
PENDING_REASONS = {"Pending", "WaitingForQuota", "ExceedsMaxQuota"}


# --- specs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quota:
    pods: int  # nominal quota, in smoke pods of the pool
    borrow: int | None = 0  # borrowingLimit in smoke pods; None: unset (may borrow all idle capacity)


def pool_of(document: dict[str, Any]) -> GpuPool:
    return validate(ENV, document).pool(POOL)


def unit(pool: GpuPool) -> int:
    """GPU units one smoke pod of the pool asks for (a whole node's GPUs, one unit on a shared pool)."""
    return gpus_requested(pool)


def pods_per_node(pool: GpuPool) -> int:
    return pool.gpus_per_node * pool.slots_per_gpu // unit(pool)


def pool_pods(pool: GpuPool) -> int:
    """Smoke pods the pool's nodes hold at once (the sim runs each pool at its maximum size)."""
    return pool.max_nodes * pods_per_node(pool)


def build_spec(quotas: dict[str, Quota], document: dict[str, Any] | None = None) -> Spec:
    """The `prod` document with only the given teams, each with one GPU quota on POOL, validated.

    CPU and memory quotas are raised where needed so that a team holding the whole pool stays within
    them: only the GPU quota is under test (a cpu/memory borrow would count in fair sharing too)."""
    document = copy.deepcopy(document or specs.stand_in(ENV))
    pool = pool_of(document)
    given = {t["name"]: t for t in document["teams"]}
    whole_pool = pool_pods(pool) * unit(pool)
    teams = []
    for name, quota in quotas.items():
        entry = copy.deepcopy(given.get(name, {"name": name}))
        entry["cpu"] = max(entry.get("cpu", 1), whole_pool * CPU_PER_GPU)
        entry["memory_gib"] = max(entry.get("memory_gib", 1), whole_pool * MEMORY_GIB_PER_GPU)
        gpu_quota: dict[str, Any] = {"pool": POOL, "gpus": quota.pods * unit(pool)}
        if quota.borrow is not None:
            gpu_quota["borrowing_limit"] = quota.borrow * unit(pool)
        entry["gpu_quotas"] = [gpu_quota]
        teams.append(entry)
    document["teams"] = teams
    return validate(ENV, document)


def built_borrowing_limit() -> int | None:
    """The borrowingLimit the built environment gives its first team with one on POOL, in pods."""
    document = specs.stand_in(ENV)
    pool = pool_of(document)
    for entry in document["teams"]:
        for quota in entry.get("gpu_quotas", []):
            if quota["pool"] == POOL and quota.get("borrowing_limit") is not None:
                assert quota["borrowing_limit"] % unit(pool) == 0, "borrowingLimit is not whole smoke pods"
                return quota["borrowing_limit"] // unit(pool)
    return None


def team(spec: Spec, name: str) -> Team:
    return next(t for t in spec.teams if t.name == name)


# --- what the tests submit ------------------------------------------------------------------------
def gpu_job(spec: Spec, owner: Team, name: str, priority: str = SMOKE_PRIORITY, nodes: int = 1) -> dict[str, Any]:
    """A smoke Job on POOL as cnai builds it (`nodes` > 1: an Indexed Job gang), under its own name."""
    job = smoke_job(spec, owner, "gemm", [], spec.pool(POOL), nodes=nodes)
    job["metadata"]["name"] = name
    job["metadata"]["labels"][PRIORITY_LABEL] = priority
    return job


def holder(spec: Spec, owner: Team, name: str, priority: str = SMOKE_PRIORITY) -> dict[str, Any]:
    """A plain Pod with the smoke Job's pod template and labels: holds its quota while it runs."""
    job = gpu_job(spec, owner, name, priority)
    labels = {k: v for k, v in job["metadata"]["labels"].items() if k in (QUEUE_LABEL, PRIORITY_LABEL)}
    pod = k8s_object("v1", "Pod", name, owner.namespace_name, spec=copy.deepcopy(job["spec"]["template"]["spec"]))
    pod["metadata"]["labels"] |= labels
    return pod


# --- reading and deleting ------------------------------------------------------------------------
def workload_of(dyn: Any, namespace: str, owner_uid: str) -> dict[str, Any] | None:
    """The Workload Kueue created for an object (a Job, a Pod), found by its owner reference."""
    workloads = dyn.resources.get(api_version=KUEUE_API, kind="Workload")
    return owned_workload(workloads.get(namespace=namespace).to_dict()["items"], owner_uid)


# --- the record of every Workload state -----------------------------------------------------------
class WorkloadHistory:
    """Every state of every Workload while a test runs (a watch). A preempted plain Pod is deleted, and
    its Workload with it: its Evicted and Preempted conditions are read from this record."""

    def __init__(self, api_client: Any) -> None:
        self.api = CustomObjectsApi(api_client)
        self.states: dict[str, list[dict[str, Any]]] = defaultdict(list)  # by owner uid
        self.lock = threading.Lock()
        self.watch = watch.Watch()
        self.thread: threading.Thread | None = None
        self.stopped = False
        self.error: Exception | None = None

    def _record(self, workload: dict[str, Any]) -> None:
        with self.lock:
            for ref in workload["metadata"].get("ownerReferences", []):
                self.states[ref["uid"]].append(workload)

    def _run(self, resource_version: str) -> None:
        try:
            while not self.stopped:  # short watches, so that the thread ends soon after the test
                for event in self.watch.stream(
                    self.api.list_cluster_custom_object,
                    "kueue.x-k8s.io",
                    "v1beta2",
                    "workloads",
                    resource_version=resource_version,
                    timeout_seconds=2,
                ):
                    if event["type"] == "ERROR":
                        raise RuntimeError(f"watch error: {event['object']}")
                    resource_version = event["object"]["metadata"]["resourceVersion"]
                    self._record(event["object"])
        except Exception as exc:
            if not self.stopped:
                self.error = exc

    def __enter__(self) -> WorkloadHistory:
        listing = self.api.list_cluster_custom_object("kueue.x-k8s.io", "v1beta2", "workloads")
        for item in listing["items"]:
            self._record(item)
        self.thread = threading.Thread(target=self._run, args=(listing["metadata"]["resourceVersion"],), daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped = True
        self.watch.stop()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def conditions(self, owner_uid: str, kind: str) -> list[dict[str, Any]]:
        """Every distinct `kind` condition the owner's Workload had, in order."""
        if self.error is not None:
            raise AssertionError(f"the watch of Workloads failed: {self.error}")
        seen: list[dict[str, Any]] = []
        with self.lock:
            states = list(self.states.get(owner_uid, []))
        for state in states:
            found = condition(state, kind)
            if found and found not in seen:
                seen.append(found)
        return seen

    def priority(self, owner_uid: str) -> int:
        """The priority of the owner's Workload (from its WorkloadPriorityClass)."""
        with self.lock:
            return self.states[owner_uid][-1]["spec"]["priority"]

    def ever(self, owner_uid: str, kind: str) -> dict[str, Any] | None:
        """The first `kind` condition with status True the owner's Workload had."""
        return next((c for c in self.conditions(owner_uid, kind) if c["status"] == "True"), None)


# --- the sim, per test ----------------------------------------------------------------------------
@dataclass
class Queues:
    """A test's view of the sim: applies a spec's team baseline and Kueue objects, submits Pods and Jobs,
    and deletes all of it afterwards (other sim tests use the same team names and queues)."""

    sim: SimRuntime
    dyn: Any
    applied: list[dict[str, Any]] = field(default_factory=list)
    submitted: list[dict[str, Any]] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)

    def apply(self, spec: Spec) -> None:
        assert spec.components.kueue.enabled
        objects = [o for t in spec.teams for o in team_objects(spec, t)] + kueue_objects(spec)
        # Kueue's webhooks may need a moment after the queues appear; the apply retries for 30s.
        kube.apply_all(self.dyn, objects, retries_for_webhooks=30)
        self.applied += [o for o in objects if o["kind"] != "Namespace"]  # namespaces stay, as in the other tests
        self.namespaces |= {t.namespace_name for t in spec.teams}

    def submit(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.submitted.append(obj)
        return kube.apply_all(self.dyn, [obj])[0]

    def get(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = self.dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        return resource.get(name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"]).to_dict()

    def delete(self, obj: dict[str, Any]) -> None:
        """Delete and wait until gone: until then a Pod still counts in the namespace's ResourceQuota."""
        kube.delete_all(self.dyn, [obj])

        def gone() -> bool:
            try:
                self.get(obj)
            except NotFoundError:
                return True
            return False

        kube.wait_for(gone, WAIT, f"{obj['kind']} {obj['metadata']['name']} deleted")

    def workload(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        return workload_of(self.dyn, obj["metadata"]["namespace"], obj["metadata"]["uid"])

    def admitted(self, obj: dict[str, Any], timeout: float = WAIT) -> dict[str, Any]:
        """Wait for the object's Workload to be Admitted; return it."""
        name = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            return kube.wait_for(lambda: (w := self.workload(obj)) and is_true(w, "Admitted") and w, timeout, name)
        except TimeoutError:
            quota = condition(self.workload(obj), "QuotaReserved")
            raise AssertionError(f"{name} not admitted within {timeout:.0f}s: QuotaReserved {quota}") from None

    def pending(self, obj: dict[str, Any], message: str) -> dict[str, Any]:
        """Wait until Kueue has judged the object's Workload and left it without quota, with a message
        containing `message`; then check that the verdict holds for SETTLE seconds. Return the Workload."""
        name = f"{obj['kind']} {obj['metadata']['name']}"

        def judged() -> dict[str, Any] | None:
            w = self.workload(obj)
            quota = condition(w, "QuotaReserved")
            assert not is_true(w, "QuotaReserved"), f"{name} was given quota: {w and w['status'].get('admission')}"
            return w if quota and quota["status"] == "False" and message in quota.get("message", "") else None

        try:
            workload = kube.wait_for(judged, WAIT, name)
        except TimeoutError:
            quota = condition(self.workload(obj), "QuotaReserved")
            raise AssertionError(f"{name}: no pending verdict naming {message!r} within {WAIT:.0f}s: {quota}") from None
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            judged()  # still without quota
            time.sleep(0.3)
        return workload

    def running(self, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Wait until each Pod is admitted and its Workload PodsReady; check it runs on a node of POOL."""
        for pod in pods:
            self.admitted(pod)
            what = f"{pod['metadata']['name']} ready"
            kube.wait_for(lambda p=pod: is_true(self.workload(p), "PodsReady"), WAIT, what)
        found = [self.get(p) for p in pods]
        assert_on_pool_nodes(self, found)
        return found

    def pods_of_job(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        pods = self.dyn.resources.get(api_version="v1", kind="Pod")
        selector = f"batch.kubernetes.io/job-name={job['metadata']['name']}"
        return pods.get(namespace=job["metadata"]["namespace"], label_selector=selector).to_dict()["items"]

    def completed(self, job: dict[str, Any]) -> dict[str, Any]:
        return kube.wait_for(
            lambda: is_true(self.get(job), "Complete") and self.get(job), WAIT, f"{job['metadata']['name']} Complete"
        )

    def cluster_queue(self, name: str) -> dict[str, Any]:
        return self.dyn.resources.get(api_version=KUEUE_API, kind="ClusterQueue").get(name=name).to_dict()

    def history(self) -> WorkloadHistory:
        return WorkloadHistory(kube.api_client(self.sim.kubeconfig()))

    def clean(self) -> None:
        kube.delete_all(self.dyn, self.applied + self.submitted)  # reversed: submitted first, then the queues
        workloads = self.dyn.resources.get(api_version=KUEUE_API, kind="Workload")
        pods = self.dyn.resources.get(api_version="v1", kind="Pod")
        for ns in sorted(self.namespaces):
            kube.wait_for(lambda n=ns: not workloads.get(namespace=n).to_dict()["items"], WAIT, f"{ns}: Workloads gone")
            kube.wait_for(lambda n=ns: not pods.get(namespace=n).to_dict()["items"], WAIT, f"{ns}: Pods gone")
        wait_queues_gone(self.dyn, WAIT)


def controller_config(sim: SimRuntime) -> dict[str, Any]:
    """The Configuration the sim's Kueue controller runs with (cnai's, from the first emulated env)."""
    return yaml.safe_load((sim.paths.home / "config" / "kueue-config.yaml").read_text())


@pytest.fixture
def queues(sim: SimRuntime) -> Iterator[Queues]:
    assert ENV in sim.emulates, f"the sim must emulate {ENV}: its pool {POOL} is what the tests fill"
    dyn = sim.client()
    wait_queues_gone(dyn, WAIT)  # another module's queues, deleted at its end, may still be going
    state = Queues(sim, dyn)
    try:
        yield state
    finally:
        state.clean()


def gpus_used(cluster_queue: dict[str, Any], pool: GpuPool) -> dict[str, int]:
    """The ClusterQueue's reserved GPU units on the pool's flavor: total and borrowed."""
    for flavor in (cluster_queue.get("status") or {}).get("flavorsReservation") or []:
        if flavor["name"] == flavor_name(pool):
            for resource in flavor["resources"]:
                if resource["name"] == GPU_RESOURCE:
                    return {"total": int(resource["total"]), "borrowed": int(resource.get("borrowed", 0))}
    return {"total": 0, "borrowed": 0}


def usage_becomes(queues: Queues, name: str, pool: GpuPool, total: int, borrowed: int) -> dict[str, Any]:
    """Wait for the ClusterQueue's status (Kueue updates it in batches) to report this GPU reservation,
    in smoke pods; return the ClusterQueue."""
    expected = {"total": total * unit(pool), "borrowed": borrowed * unit(pool)}
    try:
        return kube.wait_for(
            lambda: (q := queues.cluster_queue(name)) and gpus_used(q, pool) == expected and q,
            WAIT,
            f"ClusterQueue {name} reserving {expected}",
        )
    except TimeoutError:
        actual = gpus_used(queues.cluster_queue(name), pool)
        raise AssertionError(f"ClusterQueue {name}: reserving {actual}, expected {expected}") from None


def assert_admitted_on_pool(workload: dict[str, Any], queue: str, spec: Spec, count: int = 1) -> None:
    admission = workload["status"]["admission"]
    assert admission["clusterQueue"] == queue
    [assignment] = admission["podSetAssignments"]
    assert assignment["flavors"][GPU_RESOURCE] == flavor_name(spec.pool(POOL))
    assert assignment["count"] == count


def assert_on_pool_nodes(queues: Queues, pods: list[dict[str, Any]]) -> None:
    """Every pod bound to a node of POOL."""
    nodes = queues.dyn.resources.get(api_version="v1", kind="Node")
    names = [p["spec"].get("nodeName") for p in pods]
    assert all(names), f"pods not all bound: {names}"
    for name in names:
        assert nodes.get(name=name).to_dict()["metadata"]["labels"][POOL_LABEL] == POOL


def eventually(check: Callable[[], Any], what: str) -> Any:
    return kube.wait_for(check, WAIT, what)


# --- 1. team quotas -------------------------------------------------------------------------------
def test_a_teams_jobs_are_admitted_up_to_its_gpu_quota_and_the_next_waits_for_quota(queues: Queues):
    pool = pool_of(specs.stand_in(ENV))
    nominal = max(pool_pods(pool) // 2, 1)
    spec = build_spec({"research": Quota(nominal, borrow=0), "serving": Quota(pool_pods(pool) - nominal)})
    research = team(spec, "research")
    queues.apply(spec)

    holders = [queues.submit(holder(spec, research, f"quota-hold-{i}")) for i in range(nominal)]
    queues.running(holders)
    for pod in holders:
        assert_admitted_on_pool(queues.workload(pod), research.name, spec)
    usage_becomes(queues, research.name, pool, total=nominal, borrowed=0)

    job = queues.submit(gpu_job(spec, research, "quota-next"))
    waiting = queues.pending(job, f"{INSUFFICIENT} {flavor_name(pool)}, {unit(pool)} more needed")
    assert condition(waiting, "QuotaReserved")["reason"] in PENDING_REASONS
    assert not is_true(waiting, "Admitted")
    assert queues.get(job)["spec"]["suspend"] is True and not queues.pods_of_job(job), "a pending Job runs no pod"

    queues.delete(holders[0])  # quota given back: the waiting Job is admitted and runs
    assert_admitted_on_pool(queues.admitted(job), research.name, spec)
    queues.completed(job)


# --- 2. cohort borrowing --------------------------------------------------------------------------
BORROWING = [pytest.param(None, id="no-borrowing-limit")]
if built_borrowing_limit() is not None:  # the built spec sets one: that one
    BORROWING.insert(0, pytest.param(built_borrowing_limit(), id="built-borrowing-limit"))


@pytest.mark.parametrize("borrow", BORROWING)
def test_a_team_borrows_idle_cohort_quota_up_to_its_borrowing_limit(queues: Queues, borrow: int | None):
    pool = pool_of(specs.stand_in(ENV))
    nominal = 1
    idle = pool_pods(pool) - nominal  # the sibling's nominal quota: idle, lendable
    if borrow is not None:
        assert 0 < borrow < idle, "the sibling must lend more than the limit allows, to show the limit"
    spec = build_spec({"research": Quota(nominal, borrow), "serving": Quota(idle, borrow=0)})
    research = team(spec, "research")
    queues.apply(spec)
    ceiling = nominal + (idle if borrow is None else borrow)

    holders = [queues.submit(holder(spec, research, f"borrow-hold-{i}")) for i in range(ceiling)]
    queues.running(holders)
    for pod in holders:
        assert_admitted_on_pool(queues.workload(pod), research.name, spec)
    usage_becomes(queues, research.name, pool, total=ceiling, borrowed=ceiling - nominal)
    usage_becomes(queues, "serving", pool, total=0, borrowed=0)  # the lender stayed idle

    # One more: the cohort still has idle quota when a limit is set, but not within research's limit.
    job = queues.submit(gpu_job(spec, research, "borrow-beyond"))
    queues.pending(job, f"{INSUFFICIENT} {flavor_name(pool)}, {unit(pool)} more needed")
    assert not queues.pods_of_job(job)
    usage_becomes(queues, research.name, pool, total=ceiling, borrowed=ceiling - nominal)


# --- 3. fair sharing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("holding", "claiming"),
    [
        pytest.param("dev", "dev", id="same-priority"),
        # Across teams, fair sharing decides, not priority classes. cnai declared borrowWithinCohort
        # (LowerPriority, threshold dev) here until this test showed Kueue ignores it: the field is for
        # classical preemption only, "not with Fair Sharing"; the builder now leaves it out then.
        pytest.param("prod", SMOKE_PRIORITY, id="lower-priority-claimant"),
    ],
)
def test_two_borrowing_teams_converge_to_equal_fair_shares_of_the_idle_quota(
    queues: Queues, sim: SimRuntime, holding: str, claiming: str
):
    if "fairSharing" not in controller_config(sim):
        pytest.skip("the sim's Kueue runs without fair sharing (the first emulated environment has it off)")
    pool = pool_of(specs.stand_in(ENV))
    lender = pool_pods(pool) - 2  # apps: idle, its quota lent; research and serving one pod each
    assert lender >= 2 and lender % 2 == 0, "the idle quota must split into equal whole pods"
    spec = build_spec({"research": Quota(1, None), "serving": Quota(1, None), "apps": Quota(lender, None)})
    assert spec.components.kueue.fair_sharing
    research, serving = team(spec, "research"), team(spec, "serving")
    queues.apply(spec)
    declared = queues.cluster_queue(serving.name)["spec"]
    assert str(declared["fairSharing"]["weight"]) == "1"  # a Quantity
    # Not declared (ignored by Kueue under fair sharing): the API server defaults it to Never.
    assert declared["preemption"].get("borrowWithinCohort", {"policy": "Never"}) == {"policy": "Never"}

    # research alone takes the whole pool: its own pod, then all of the idle quota borrowed.
    first = [queues.submit(holder(spec, research, f"fair-research-{i}", holding)) for i in range(pool_pods(pool))]
    queues.running(first)
    usage_becomes(queues, research.name, pool, total=pool_pods(pool), borrowed=pool_pods(pool) - 1)

    # serving claims its share: within its nominal quota, then as much borrowed as research keeps.
    share = 1 + lender // 2
    with queues.history() as history:

        def preempted() -> list[dict[str, Any]]:
            return [p for p in first if history.ever(p["metadata"]["uid"], "Preempted")]

        second = []
        for i in range(share):  # one at a time: each is admitted once research gives a pod back
            second.append(queues.submit(holder(spec, serving, f"fair-serving-{i}", claiming)))
            queues.running(second[-1:])
        beyond = queues.submit(holder(spec, serving, f"fair-serving-{share}", claiming))
        waiting = queues.pending(beyond, f"{INSUFFICIENT} {flavor_name(pool)}, {unit(pool)} more needed")
        eventually(lambda: len(preempted()) >= share, f"{share} research pods preempted")
        victims = preempted()

    assert len(victims) == share, f"research gave back {len(victims)} pods, expected {share}"
    verdicts = sorted((history.ever(p["metadata"]["uid"], "Preempted") for p in victims), key=lambda c: c["reason"])
    # The first within serving's nominal quota (reclaimed), the others while serving borrows (fair share).
    assert [c["reason"] for c in verdicts] == ["InCohortFairSharing"] * (share - 1) + ["InCohortReclamation"]
    assert all("preemptor path: /cnai/serving; preemptee path: /cnai/research" in c["message"] for c in verdicts)
    for pod in victims:
        assert history.ever(pod["metadata"]["uid"], "Evicted")["reason"] == "Preempted"
    research_queue = usage_becomes(queues, research.name, pool, total=share, borrowed=share - 1)
    serving_queue = usage_becomes(queues, serving.name, pool, total=share, borrowed=share - 1)
    shares = [q["status"]["fairSharing"]["weightedShare"] for q in (research_queue, serving_queue)]
    assert shares[0] == shares[1] > 0, f"weighted shares {shares}"
    assert not is_true(waiting, "Admitted")
    assert all(is_true(queues.workload(p), "Admitted") for p in first if p not in victims)
    if PRIORITIES[claiming] < PRIORITIES[holding]:
        # Higher-priority borrowed work is preempted by a lower-priority claimant: shares decide.
        assert share > 1, "at least one preemption while serving borrows"
        assert {history.priority(p["metadata"]["uid"]) for p in victims} == {PRIORITIES[holding]}
        assert {history.priority(p["metadata"]["uid"]) for p in second} == {PRIORITIES[claiming]}


# --- 4. preemption by priority class --------------------------------------------------------------
def test_a_prod_workload_preempts_a_lower_priority_one_when_the_quota_is_full(queues: Queues):
    pool = pool_of(specs.stand_in(ENV))
    nominal = max(pool_pods(pool) // 2, 1)
    spec = build_spec({"research": Quota(nominal, borrow=0), "serving": Quota(pool_pods(pool) - nominal)})
    research = team(spec, "research")
    assert spec.components.kueue.preemption_within_queue != "Never"
    assert PRIORITIES["prod"] > PRIORITIES["dev"] > PRIORITIES[SMOKE_PRIORITY]
    queues.apply(spec)

    with queues.history() as history:
        victims = [queues.submit(holder(spec, research, f"prio-dev-{i}", "dev")) for i in range(nominal)]
        queues.running(victims)
        # A smoke Job ranks below dev work: it waits, and preempts nothing.
        smoke = queues.submit(gpu_job(spec, research, "prio-smoke"))
        queues.pending(smoke, f"{INSUFFICIENT} {flavor_name(pool)}")
        assert not any(history.ever(v["metadata"]["uid"], "Evicted") for v in victims)

        prod = queues.submit(gpu_job(spec, research, "prio-prod", "prod"))
        admitted = queues.admitted(prod)
        assert_admitted_on_pool(admitted, research.name, spec)
        queues.completed(prod)
        preempted = [v for v in victims if history.ever(v["metadata"]["uid"], "Preempted")]

    assert len(preempted) == 1, "exactly the quota the prod Job needs is taken back"
    victim = preempted[0]["metadata"]["uid"]
    assert history.ever(victim, "Preempted")["reason"] == "InClusterQueue"
    assert history.ever(victim, "Evicted")["reason"] == "Preempted"
    message = history.ever(victim, "Preempted")["message"]
    assert admitted["metadata"]["uid"] in message and "prioritization in the ClusterQueue" in message
    for survivor in (v for v in victims if v is not preempted[0]):
        assert is_true(queues.workload(survivor), "Admitted")


# --- 5. all-or-nothing gangs ----------------------------------------------------------------------
@dataclass(frozen=True)
class PartlyFull:
    """A team whose quota is the whole pool, held but for room for part of a gang of `gang` nodes."""

    spec: Spec
    owner: Team
    pool: GpuPool
    gang: int
    holders: list[dict[str, Any]]


def quota_held_but_part_of_a_gang(queues: Queues, prefix: str, gang: int = 2) -> PartlyFull:
    pool = pool_of(specs.stand_in(ENV))
    assert pool.max_nodes >= gang and pods_per_node(pool) == 1, "the gang's pods take a node each"
    spec = build_spec({"research": Quota(pool_pods(pool), borrow=0)})
    research = team(spec, "research")
    queues.apply(spec)
    # All but gang - 1 pods of the quota held: room for part of the gang, not all of it.
    held = pool_pods(pool) - gang + 1
    holders = [queues.submit(holder(spec, research, f"{prefix}-hold-{i}")) for i in range(held)]
    queues.running(holders)
    return PartlyFull(spec, research, pool, gang, holders)


def test_a_multi_node_gang_is_admitted_whole_or_not_at_all(queues: Queues):
    full = quota_held_but_part_of_a_gang(queues, "gang")
    spec, research, pool, gang, holders = full.spec, full.owner, full.pool, full.gang, full.holders
    job = queues.submit(gpu_job(spec, research, "gang", nodes=gang))
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["parallelism"] == gang
    waiting = queues.pending(job, f"{INSUFFICIENT} {flavor_name(pool)}, {unit(pool)} more needed")
    assert waiting["spec"]["podSets"][0]["count"] == gang, "one pod set of the whole gang"
    assert "admission" not in waiting["status"]
    assert queues.get(job)["spec"]["suspend"] is True and not queues.pods_of_job(job), "no pod of a partial gang"

    queues.delete(holders[0])  # now the whole gang fits
    admitted = queues.admitted(job)
    assert_admitted_on_pool(admitted, research.name, spec, count=gang)
    pods = eventually(
        lambda: len(bound := [p for p in queues.pods_of_job(job) if p["spec"].get("nodeName")]) == gang and bound,
        "the gang's pods bound",
    )
    assert_on_pool_nodes(queues, pods)
    # Not asserted: one node per pod. kwok completes a Job pod at once, so the scheduler may bind the
    # second pod to the node the first has just freed (seen in a full sim run).
    assert is_true(queues.completed(job), "Complete")


def pods_of_jobset(queues: Queues, jobset: dict[str, Any]) -> list[dict[str, Any]]:
    pods = queues.dyn.resources.get(api_version="v1", kind="Pod")
    selector = f"jobset.sigs.k8s.io/jobset-name={jobset['metadata']['name']}"
    return pods.get(namespace=jobset["metadata"]["namespace"], label_selector=selector).to_dict()["items"]


def test_a_jobset_gang_is_admitted_whole_or_not_at_all(queues: Queues):
    """The shipped ddp gang (smoke_jobs.ddp_gang) with the real JobSet controller and Kueue's jobset
    integration: one Workload, suspended with no Job and no pod while only part of it fits, admitted whole
    once it all fits; every pod told where the coordinator is and which run it belongs to; it completes.
    (prod's store is a cloud one, where cnai ships no gang: admission does not depend on the store.)"""
    full = quota_held_but_part_of_a_gang(queues, "jobset", gang=GANG_NODES)
    spec, research, pool, gang, holders = full.spec, full.owner, full.pool, full.gang, full.holders
    jobset = queues.submit(ddp_gang(spec, research, pool))
    waiting = queues.pending(jobset, f"{INSUFFICIENT} {flavor_name(pool)}, {unit(pool)} more needed")
    assert [s["count"] for s in waiting["spec"]["podSets"]] == [gang], "one pod set of the whole gang"
    assert queues.get(jobset)["spec"]["suspend"] is True and not pods_of_jobset(queues, jobset)

    queues.delete(holders[0])  # now the whole gang fits
    admitted = queues.admitted(jobset)
    assert_admitted_on_pool(admitted, research.name, spec, count=gang)
    pods = eventually(
        lambda: (
            len(bound := [p for p in pods_of_jobset(queues, jobset) if p["spec"].get("nodeName")]) == gang and bound
        ),
        "the JobSet's pods bound",
    )
    assert_on_pool_nodes(queues, pods)
    assert {p["metadata"]["labels"]["jobset.sigs.k8s.io/replicatedjob-name"] for p in pods} == {GANG_WORKERS}
    # What each pod's launcher reads through the downward API (smoke_jobs.ddp_gang's env).
    name, uid = jobset["metadata"]["name"], queues.get(jobset)["metadata"]["uid"]
    assert {p["metadata"]["annotations"][COORDINATOR_ANNOTATION] for p in pods} == {f"{name}-{GANG_WORKERS}-0-0.{name}"}
    assert {p["metadata"]["labels"][JOBSET_UID_LABEL] for p in pods} == {uid}
    assert {p["spec"]["hostname"] for p in pods} == {f"{name}-{GANG_WORKERS}-0-{i}" for i in range(gang)}
    done = eventually(lambda: is_true(queues.get(jobset), "Completed") and queues.get(jobset), "JobSet Completed")
    assert done["status"]["replicatedJobsStatus"][0]["succeeded"] == 1, "its one Job, of all the gang's pods"
    # `cnai smoke` follows it as it follows a Job: admitted, placed, completed (no container ran: no result).
    outcomes = job_outcomes(spec, [ddp_gang(spec, research, pool)])
    SmokeRun(queues.dyn, Console(quiet=True)).follow(outcomes, timeout=60, fixed_nodes=True)
    verdicts = {c.name.split("[")[0]: c.outcome for c in job_checks(outcomes[0], simulated=True)}
    assert verdicts == {
        "test_cluster_jobs::test_admitted": "passed",
        "test_cluster_jobs::test_placed": "passed",
        "test_cluster_jobs::test_completed": "passed",
        "test_gpu_jobs::test_result": "skipped",
    }


# --- 6. a gang beyond its pool or its quota -------------------------------------------------------
def test_a_gang_larger_than_its_pool_is_refused_by_the_builder():
    spec = build_spec({"research": Quota(1)})
    pool = spec.pool(POOL)
    with pytest.raises(ValueError, match=f"at most {pool.max_nodes}"):
        smoke_job(spec, team(spec, "research"), "allreduce", [], pool, nodes=pool.max_nodes + 1)


@pytest.mark.parametrize("beyond", ["team-quota", "pool"])
def test_a_gang_beyond_what_its_team_could_ever_get_stays_pending_with_a_reason(queues: Queues, beyond: str):
    pool = pool_of(specs.stand_in(ENV))
    if beyond == "team-quota":  # the whole pool's nodes, for a team whose quota is one pod less
        gang = pool.max_nodes
        spec = build_spec({"research": Quota(pool_pods(pool) - 1, borrow=0), "serving": Quota(1)})
    else:  # one node more than the pool has, for a team whose quota is the whole pool
        gang = pool.max_nodes + 1
        spec = build_spec({"research": Quota(pool_pods(pool), borrow=0)})
    research = team(spec, "research")
    capacity = research.gpu_quotas[0].gpus
    queues.apply(spec)

    job = gpu_job(spec, research, f"gang-beyond-{beyond}", nodes=min(gang, pool.max_nodes))
    job["spec"]["parallelism"] = job["spec"]["completions"] = gang  # past the builder's guard, for "pool"
    job = queues.submit(job)
    expected = (
        f"{EXCEEDS} {flavor_name(pool)}, previously considered podsets requests (0) + "
        f"current podset request ({gang * unit(pool)}) > maximum capacity ({capacity})"
    )
    waiting = queues.pending(job, expected)
    assert condition(waiting, "QuotaReserved")["reason"] in PENDING_REASONS
    assert queues.get(job)["spec"]["suspend"] is True and not queues.pods_of_job(job)
