"""`cnai smoke` on a cluster: the suite Job and every pool's GPU Jobs (and JobSet gangs), followed through
the real API.

The Jobs are server-side applied (field manager `cnai`) and followed through their Kueue Workloads
(admitted into which ClusterQueue and flavor), their Pods (bound to which nodes, of which pool) and
their conditions (Complete / Failed). What the pods printed comes back through their logs: each GPU
job's result line (smoke_tests.result) and the suite's report line (smoke_tests.runner). All of it
becomes one report (report.json, junit.xml, report.html) like the local environment's.

On the sim, kwok plays the kubelet: pods are bound and complete, but no container runs, so there are
no logs - the admission, placement and completion checks are real, the result checks are skipped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modules.cluster import apply as kube
from modules.cluster.apply import condition, is_true
from modules.components.kueue import API as KUEUE_API
from modules.components.kueue import flavor_name
from modules.components.smoke_jobs import JOBSET_API, SUITE_JOB
from modules.spec import Spec
from modules.spec.models import GPU_RESOURCE, POOL_LABEL
from smoke_tests.report import CheckOutcome, build_report, write_junit
from smoke_tests.result import MARKER, parse_results
from smoke_tests.runner import REPORT_MARKER, versions_that_ran

CLUSTER_CHECKS = "test_cluster_jobs"  # the report's area for admission, placement and completion
GPU_CHECKS = "test_gpu_jobs"
NO_CONTAINERS = "the sim's kwok binds and completes pods without running a container: no log, no result"


@dataclass(frozen=True)
class Followed:
    """A kind of smoke workload: its API, the label its pods carry with its name, its end conditions."""

    api_version: str
    pod_label: str
    complete: str
    failed: str = "Failed"

    def pod_spec(self, manifest: dict[str, Any]) -> dict[str, Any]:
        spec = manifest["spec"]
        job = spec["replicatedJobs"][0]["template"] if "replicatedJobs" in spec else manifest  # a JobSet's Job
        return job["spec"]["template"]["spec"]


FOLLOWED = {
    "Job": Followed("batch/v1", "batch.kubernetes.io/job-name", "Complete"),
    "JobSet": Followed(JOBSET_API, "jobset.sigs.k8s.io/jobset-name", "Completed"),  # a gang (smoke_jobs.ddp_gang)
}


@dataclass
class JobOutcome:
    """One smoke Job as the cluster saw it."""

    name: str
    namespace: str
    queue: str
    pool: str | None  # the GPU pool it tests (None: the suite, on CPU)
    expected_flavor: str | None
    kind: str = "Job"  # a key of FOLLOWED
    uid: str = ""
    admitted: bool = False
    cluster_queue: str | None = None
    flavors: dict[str, str] = field(default_factory=dict)
    pending_message: str | None = None
    pods: list[str] = field(default_factory=list)
    nodes: dict[str, str | None] = field(default_factory=dict)  # node -> its pool label
    unschedulable: list[str] = field(default_factory=list)
    finished: str | None = None  # Complete | Failed
    finish_message: str | None = None
    log: str = ""

    @property
    def label(self) -> str:
        return f"{self.pool}/{self.name}" if self.pool else self.name


def job_outcomes(spec: Spec, manifests: list[dict[str, Any]]) -> list[JobOutcome]:
    """What to follow: every Job and JobSet of the manifests, with the queue and pool the spec expects."""
    outcomes = []
    for manifest in manifests:
        if manifest["kind"] not in FOLLOWED:
            continue
        meta, pod = manifest["metadata"], FOLLOWED[manifest["kind"]].pod_spec(manifest)
        pool = (pod.get("nodeSelector") or {}).get(POOL_LABEL)
        outcomes.append(
            JobOutcome(
                name=meta["name"],
                namespace=meta["namespace"],
                queue=meta["labels"]["kueue.x-k8s.io/queue-name"],
                pool=pool,
                expected_flavor=flavor_name(spec.pool(pool)) if pool else None,
                kind=manifest["kind"],
            )
        )
    return outcomes


def owned_workload(workloads: list[dict[str, Any]], owner_uid: str) -> dict[str, Any] | None:
    """The Workload Kueue created for an object (a Job, a Pod), found by its owner reference."""
    return next(
        (w for w in workloads if any(r["uid"] == owner_uid for r in w["metadata"].get("ownerReferences", []))), None
    )


class SmokeRun:
    """Adapter: applies the smoke Jobs, follows them to the end, collects their logs."""

    def __init__(self, dyn: DynamicClient, console: Console | None = None) -> None:
        self.dyn = dyn
        self.core = CoreV1Api(dyn.client)
        self.console = console or Console(stderr=True)

    def _api(self, api_version: str, kind: str) -> Any:
        return self.dyn.resources.get(api_version=api_version, kind=kind)

    def _followed_api(self, manifest: dict[str, Any]) -> Any:
        return self._api(FOLLOWED[manifest["kind"]].api_version, manifest["kind"])

    def replace(self, manifests: list[dict[str, Any]], timeout: float) -> None:
        """Delete the Jobs and JobSets of an earlier run (and wait until gone), then apply these."""
        for manifest in (m for m in manifests if m["kind"] in FOLLOWED):
            meta = manifest["metadata"]
            try:
                self._followed_api(manifest).delete(
                    name=meta["name"], namespace=meta["namespace"], body={"propagationPolicy": "Foreground"}
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
        kube.wait_for(lambda: not self._remaining(manifests), timeout, "earlier smoke Jobs deleted")
        kube.apply_all(self.dyn, manifests, retries_for_webhooks=30)

    def _remaining(self, manifests: list[dict[str, Any]]) -> list[str]:
        left = []
        for manifest in (m for m in manifests if m["kind"] in FOLLOWED):
            meta = manifest["metadata"]
            try:
                self._followed_api(manifest).get(name=meta["name"], namespace=meta["namespace"])
                left.append(meta["name"])
            except ApiException as exc:
                if exc.status != 404:
                    raise
        return left

    def follow(self, outcomes: list[JobOutcome], timeout: float, fixed_nodes: bool = False) -> None:
        """Poll until every Job finished (or `timeout`), updating the outcomes; then read the logs.
        `fixed_nodes` (the sim: no autoscaler): stop early once only Jobs the scheduler refused are left,
        since its verdict will not change; on a cluster a scale-up may still place them."""
        deadline = time.monotonic() + timeout
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=self.console) as progress:
            task = progress.add_task("smoke jobs", total=len(outcomes))
            while True:
                self._observe(outcomes)
                done = sum(o.finished is not None for o in outcomes)
                admitted = sum(o.admitted for o in outcomes)
                placed = sum(bool(o.nodes) for o in outcomes)
                progress.update(
                    task,
                    completed=done,
                    description=f"smoke jobs: {admitted} admitted, {placed} placed, {done} of {len(outcomes)} finished",
                )
                if done == len(outcomes) or time.monotonic() > deadline or (fixed_nodes and self._stuck(outcomes)):
                    break
                time.sleep(1)
        for outcome in outcomes:
            outcome.log = self._logs(outcome)

    @staticmethod
    def _stuck(outcomes: list[JobOutcome]) -> bool:
        """Only Jobs the scheduler refused are left."""
        open_jobs = [o for o in outcomes if o.finished is None]
        return bool(open_jobs) and all(o.unschedulable for o in open_jobs)

    def _observe(self, outcomes: list[JobOutcome]) -> None:
        namespaces = sorted({o.namespace for o in outcomes})
        followed = {
            (kind, o["metadata"]["namespace"], o["metadata"]["name"]): o
            for kind in sorted({o.kind for o in outcomes})
            for ns in namespaces
            for o in self._api(FOLLOWED[kind].api_version, kind).get(namespace=ns).to_dict()["items"]
        }
        workloads = [
            w for ns in namespaces for w in self._api(KUEUE_API, "Workload").get(namespace=ns).to_dict()["items"]
        ]
        pods = [p for ns in namespaces for p in self._api("v1", "Pod").get(namespace=ns).to_dict()["items"]]
        node_pools = {
            n["metadata"]["name"]: n["metadata"].get("labels", {}).get(POOL_LABEL)
            for n in self._api("v1", "Node").get().to_dict()["items"]
        }
        for outcome in outcomes:
            job, kind = followed.get((outcome.kind, outcome.namespace, outcome.name)), FOLLOWED[outcome.kind]
            if job is None:
                continue
            outcome.uid = job["metadata"]["uid"]
            self._admission(outcome, workloads)
            mine = [
                p
                for p in pods
                if p["metadata"]["namespace"] == outcome.namespace
                and p["metadata"].get("labels", {}).get(kind.pod_label) == outcome.name
            ]
            outcome.pods = [p["metadata"]["name"] for p in mine]
            outcome.nodes = {
                p["spec"]["nodeName"]: node_pools.get(p["spec"]["nodeName"]) for p in mine if p["spec"].get("nodeName")
            }
            outcome.unschedulable = [
                (condition(p, "PodScheduled") or {}).get("message") or "unschedulable"
                for p in mine
                if (condition(p, "PodScheduled") or {}).get("reason") == "Unschedulable"
            ]
            for end, finished in ((kind.complete, "Complete"), (kind.failed, "Failed")):
                if is_true(job, end):
                    outcome.finished, outcome.finish_message = finished, (condition(job, end) or {}).get("message")

    @staticmethod
    def _admission(outcome: JobOutcome, workloads: list[dict[str, Any]]) -> None:
        workload = owned_workload(workloads, outcome.uid)
        if workload is None:
            return
        outcome.admitted = outcome.admitted or is_true(workload, "Admitted")
        admission = (workload.get("status") or {}).get("admission")
        if admission:
            outcome.cluster_queue = admission["clusterQueue"]
            outcome.flavors = {
                k: v for ps in admission["podSetAssignments"] for k, v in (ps.get("flavors") or {}).items()
            }
        elif not outcome.admitted:
            outcome.pending_message = (condition(workload, "QuotaReserved") or {}).get("message")

    def _logs(self, outcome: JobOutcome) -> str:
        texts = []
        for pod in outcome.pods:  # as last observed
            try:
                texts.append(self.core.read_namespaced_pod_log(pod, outcome.namespace, _request_timeout=30))
            except ApiException:
                continue  # no container ran (or its log is gone): the result check says so
        return "\n".join(texts)


# --- checks --------------------------------------------------------------------------------------
def check_outcome(module: str, name: str, ok: bool | None, message: str, seconds: float = 0.0) -> CheckOutcome:
    """A check's verdict for the report: skipped (ok None), passed or failed, the cause kept on failure."""
    outcome = "skipped" if ok is None else "passed" if ok else "failed"
    return CheckOutcome(f"{module}::{name}", outcome, seconds, message[:300], "" if ok in (True, None) else message)


def job_checks(outcome: JobOutcome, simulated: bool) -> list[CheckOutcome]:
    """Queued into the team's ClusterQueue and the pool's flavor, placed on the pool's nodes, finished."""
    where = f"[{outcome.label}]"
    flavor = outcome.flavors.get(GPU_RESOURCE) if outcome.pool else None
    right_queue = outcome.admitted and outcome.cluster_queue == outcome.queue
    right_flavor = outcome.pool is None or flavor == outcome.expected_flavor
    admitted = (
        f"admitted into ClusterQueue {outcome.cluster_queue}" + (f", flavor {flavor}" if outcome.pool else "")
        if outcome.admitted
        else f"not admitted: {outcome.pending_message or 'no Workload admission'}"
    )
    if outcome.admitted and not (right_queue and right_flavor):
        admitted += f" (expected ClusterQueue {outcome.queue}, flavor {outcome.expected_flavor})"
    wrong_pool = {n: p for n, p in outcome.nodes.items() if outcome.pool and p != outcome.pool}
    placed = (
        f"bound to {', '.join(sorted(outcome.nodes))}" + (f" (pool {outcome.pool})" if outcome.pool else "")
        if outcome.nodes and not wrong_pool
        else f"on nodes of other pools: {wrong_pool}"
        if wrong_pool
        else f"not bound: {'; '.join(outcome.unschedulable) or 'no pod scheduled'}"
    )
    finished = outcome.finished or "did not finish in time"
    checks = [
        check_outcome(CLUSTER_CHECKS, f"test_admitted{where}", right_queue and right_flavor, admitted),
        check_outcome(CLUSTER_CHECKS, f"test_placed{where}", bool(outcome.nodes) and not wrong_pool, placed),
        check_outcome(
            CLUSTER_CHECKS,
            f"test_completed{where}",
            outcome.finished == "Complete",
            f"{finished}{': ' + outcome.finish_message if outcome.finish_message else ''}",
        ),
    ]
    if outcome.pool:
        checks.append(_result_check(outcome, simulated))
    return checks


def _result_check(outcome: JobOutcome, simulated: bool) -> CheckOutcome:
    name = f"test_result[{outcome.label}]"
    results = parse_results(outcome.log)
    if not results:
        if simulated:
            return check_outcome(GPU_CHECKS, name, None, NO_CONTAINERS)
        return check_outcome(
            GPU_CHECKS, name, False, f"no result line in the log of job {outcome.namespace}/{outcome.name}"
        )
    # A gang's pods each print one: the first failure, else the last line, speaks for the job.
    result = next((r for r in results if r.status == "fail"), results[-1])
    return check_outcome(GPU_CHECKS, name, result.status != "fail", f"{result.status}: {result.message}")


def suite_report(outcome: JobOutcome) -> dict[str, Any] | None:
    """The report the suite Job printed on its marked log line."""
    line = next((ln for ln in outcome.log.splitlines() if ln.startswith(REPORT_MARKER)), None)
    return json.loads(line.removeprefix(REPORT_MARKER)) if line else None


def run_jobs(
    dyn: DynamicClient,
    spec: Spec,
    manifests: list[dict[str, Any]],
    console: Console,
    timeout: float,
    fixed_nodes: bool = False,
) -> list[JobOutcome]:
    """Replace any earlier run's Jobs with these, follow them to the end, and read their logs."""
    run = SmokeRun(dyn, console)
    run.replace(manifests, timeout)
    outcomes = job_outcomes(spec, manifests)
    run.follow(outcomes, timeout, fixed_nodes)
    return outcomes


def write_report(
    out: Path,
    environment: str,
    wall_seconds: float,
    checks: list[CheckOutcome],
    results: list[str],
    summary: dict[str, Any],
    versions: dict[str, str],
) -> dict[str, Any]:
    """junit.xml and results.jsonl from a cluster run, then report.json and report.html like local's."""
    out.mkdir(parents=True, exist_ok=True)
    write_junit(checks, out / "junit.xml")
    (out / "results.jsonl").write_text("".join(f"{line}\n" for line in results))
    return build_report(out, environment, wall_seconds, summary, versions)


def cluster_smoke(
    dyn: DynamicClient, spec: Spec, manifests: list[dict[str, Any]], out: Path, console: Console, timeout: float
) -> dict[str, Any]:
    """`cnai smoke ENV` on a cluster: the run, its checks and the GPU jobs' results, the report."""
    started = time.monotonic()
    checks, results = collect(run_jobs(dyn, spec, manifests, console, timeout), simulated=False)
    endpoints = json.loads(next(m for m in manifests if m["kind"] == "ConfigMap")["data"]["endpoints.json"])
    return write_report(
        out, spec.name, time.monotonic() - started, checks, results, endpoints, versions_that_ran(spec.cluster.target)
    )


def collect(outcomes: list[JobOutcome], simulated: bool) -> tuple[list[CheckOutcome], list[str]]:
    """Every check of the run, and every job result line (each GPU job's, and the suite's own jobs');
    the suite's own checks are merged in."""
    checks = [c for o in outcomes for c in job_checks(o, simulated)]
    results = [r.line() for o in outcomes if o.pool for r in parse_results(o.log)[-1:]]
    suite = next((o for o in outcomes if o.name == SUITE_JOB), None)
    report = suite_report(suite) if suite else None
    if report is not None:
        checks += [CheckOutcome(**c) for c in report["checks"]]
        results += [json.dumps({MARKER: 1, **job}) for job in report["jobs"]]
    elif suite is not None:
        reason = NO_CONTAINERS if simulated else f"the suite job printed no report (its log: {len(suite.log)} chars)"
        checks.append(check_outcome(CLUSTER_CHECKS, "test_suite_report", None if simulated else False, reason))
    return checks, results
