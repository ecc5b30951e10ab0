"""`cnai smoke sim`: the cluster smoke run on the sim, for each emulated environment in turn.

Per environment: every object cnai authors for it is applied to the real API server; the Secrets the
platform's Pulumi components would create (a team's S3 keys) are stood in for with random keys, as
the sim runs no object store; the real KServe controller must turn the platform's smoke
InferenceService into its Deployment and Service; then the suite Job and every pool's GPU Jobs go
through modules.cluster.smoke like on a cluster. Afterwards the environment's objects are deleted,
since the emulated environments share team names. One report covers every environment.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes.dynamic import DynamicClient
from rich.console import Console

from modules.cluster import apply as kube
from modules.cluster.apply import condition, is_true
from modules.cluster.smoke import JobOutcome, check_outcome, collect, run_jobs, write_report
from modules.components.contents import object_files
from modules.components.endpoints import cluster_endpoints
from modules.components.keda import autoscales_llms
from modules.components.kserve import SMOKE_LLM, SMOKE_MODEL, smoke_inference_service, smoke_llm_service
from modules.components.kueue import API as KUEUE_API
from modules.components.object_storage import TEAM_CREDENTIALS_SECRET, runs_in_cluster
from modules.components.objects import k8s_object
from modules.components.smoke_jobs import smoke_manifests
from modules.spec import Spec
from modules.spec.models import GPU_RESOURCE
from modules.versions import image
from smoke_tests.report import CheckOutcome
from smoke_tests.runner import versions_that_ran

SERVING_CHECKS = "test_serving"
JOB_TIMEOUT = 120.0
KSERVE_TIMEOUT = 60.0


@dataclass
class EnvironmentRun:
    environment: str
    objects_applied: int
    outcomes: list[JobOutcome]
    checks: list[CheckOutcome]


def platform_objects(spec: Spec) -> list[dict[str, Any]]:
    """Every object cnai authors for the environment except the smoke Jobs (the run applies those)."""
    return [obj for stem, objects in object_files(spec).items() if stem != "smoke-jobs" for obj in objects]


def stand_in_secrets(spec: Spec) -> list[dict[str, Any]]:
    """Each team's S3 keys as the ObjectStorage component creates them, with random values (no store
    runs in the sim; nothing is written anywhere but the sim's etcd)."""
    if not runs_in_cluster(spec):
        return []
    return [
        k8s_object(
            "v1",
            "Secret",
            TEAM_CREDENTIALS_SECRET,
            team.namespace_name,
            type="Opaque",
            stringData={"AWS_ACCESS_KEY_ID": secrets.token_hex(10), "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20)},
        )
        for team in spec.teams
    ]


def serving_checks(dyn: DynamicClient, spec: Spec, timeout: float) -> list[CheckOutcome]:
    """The platform's smoke InferenceServices as the real KServe controller makes them: the MLflow
    model's on cnai's MLServer runtime, and the chat model's on its vLLM runtime, scaled by a KEDA
    ScaledObject on vLLM's queue where the platform autoscales LLMs."""
    checks = []
    if smoke_inference_service(spec):
        checks.append(predictor_check(dyn, spec, SMOKE_MODEL, "mlserver", "test_platform_inference_service", timeout))
    if llm := smoke_llm_service(spec):
        checks.append(predictor_check(dyn, spec, SMOKE_LLM, "vllm", "test_platform_llm_service", timeout))
        if autoscales_llms(spec):
            checks.append(scaled_object_check(dyn, llm[0], timeout))
    return checks


def predictor_check(
    dyn: DynamicClient, spec: Spec, isvc: str, runtime: str, check: str, timeout: float
) -> CheckOutcome:
    """An InferenceService turned into a Deployment running its runtime's image and a Service, whose
    pod is admitted (KServe's pod webhook, Pod Security of the team's namespace) and placed: the
    Deployment becomes Available (kwok plays the kubelet)."""
    namespace = spec.teams[0].namespace_name
    name = f"{isvc}-predictor"
    started = time.monotonic()
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    last: dict[str, Any] = {}

    def available() -> bool:
        nonlocal last
        last = deployments.get(name=name, namespace=namespace).to_dict()
        dyn.resources.get(api_version="v1", kind="Service").get(name=name, namespace=namespace)
        return is_true(last, "Available")

    try:
        kube.wait_for(available, timeout, f"KServe's Deployment {namespace}/{name} Available")
    except TimeoutError as exc:
        refused = condition(last, "ReplicaFailure") or {}
        message = f"{exc}" + (f"; its pods are refused: {refused.get('message')}" if refused else "")
        return check_outcome(SERVING_CHECKS, check, False, message, time.monotonic() - started)
    images = [c["image"] for c in last["spec"]["template"]["spec"]["containers"]]
    message = (
        f"Deployment {namespace}/{name} (Available) and its Service created by KServe; containers: {', '.join(images)}"
    )
    return check_outcome(SERVING_CHECKS, check, image(runtime) in images, message, time.monotonic() - started)


def scaled_object_check(dyn: DynamicClient, isvc: dict[str, Any], timeout: float) -> CheckOutcome:
    """KServe's controller made the LLM predictor's KEDA ScaledObject: it targets the predictor's
    Deployment, within the InferenceService's replica bounds, on the Prometheus query cnai declared."""
    check, started = "test_llm_predictor_scales_on_its_queue", time.monotonic()
    namespace, predictor = isvc["metadata"]["namespace"], isvc["spec"]["predictor"]
    metric = predictor["autoScaling"]["metrics"][0]["external"]["metric"]
    scaled_objects = dyn.resources.get(api_version="keda.sh/v1alpha1", kind="ScaledObject")
    found: list[dict[str, Any]] = []

    def made() -> bool:
        nonlocal found
        found = [
            o
            for o in scaled_objects.get(namespace=namespace).to_dict()["items"]
            if o["spec"]["scaleTargetRef"]["name"] == f"{isvc['metadata']['name']}-predictor"
        ]
        return bool(found)

    try:
        kube.wait_for(made, timeout, f"a ScaledObject in {namespace} for the LLM predictor")
    except TimeoutError as exc:
        return check_outcome(SERVING_CHECKS, check, False, str(exc), time.monotonic() - started)
    spec = found[0]["spec"]
    trigger = spec["triggers"][0]
    bounds = (spec.get("minReplicaCount"), spec.get("maxReplicaCount"))
    ok = (
        trigger["type"] == "prometheus"
        and trigger["metadata"].get("query") == metric["query"]
        and trigger["metadata"].get("serverAddress") == metric["serverAddress"]
        and bounds == (predictor["minReplicas"], predictor["maxReplicas"])
    )
    message = f"ScaledObject {namespace}/{found[0]['metadata']['name']}: {trigger['type']} trigger, replicas {bounds}"
    return check_outcome(SERVING_CHECKS, check, ok, message, time.monotonic() - started)


def run_environment(dyn: DynamicClient, spec: Spec, console: Console, timeout: float = JOB_TIMEOUT) -> EnvironmentRun:
    objects = [*platform_objects(spec), *stand_in_secrets(spec)]
    applied = kube.apply_all(dyn, objects, retries_for_webhooks=30)
    manifests = smoke_manifests(spec, cluster_endpoints(spec).model_dump_json())
    try:
        serving = serving_checks(dyn, spec, KSERVE_TIMEOUT)
        outcomes = run_jobs(dyn, spec, manifests, console, timeout, fixed_nodes=True)  # no autoscaler
    finally:
        delete(dyn, [o for o in [*objects, *manifests] if o["kind"] != "Namespace"])
    checks = serving
    return EnvironmentRun(spec.name, len(applied), outcomes, checks)


def delete(dyn: DynamicClient, objects: list[dict[str, Any]], timeout: float = 60) -> None:
    """Delete what an environment's run applied, and wait until its queues are gone (the next
    environment's ClusterQueues have the same names)."""
    kube.delete_all(dyn, objects)
    wait_queues_gone(dyn, timeout)


def wait_queues_gone(dyn: DynamicClient, timeout: float) -> None:
    queues = dyn.resources.get(api_version=KUEUE_API, kind="ClusterQueue")
    kube.wait_for(lambda: not queues.get().to_dict()["items"], timeout, "ClusterQueues deleted")


def run_smoke(dyn: DynamicClient, specs: list[Spec], out: Path, console: Console) -> dict[str, Any]:
    """Every emulated environment's run, then one report in `out`."""
    started = time.monotonic()
    runs = []
    for spec in specs:
        console.print(f"[bold]sim smoke: {spec.name}[/] (emulated pools: {', '.join(p.name for p in spec.gpu_pools)})")
        runs.append(run_environment(dyn, spec, console))
    checks, results = [], []
    for run in runs:
        environment_checks, environment_results = collect(run.outcomes, simulated=True)
        checks += [_in_environment(c, run.environment) for c in [*run.checks, *environment_checks]]
        results += environment_results
    summary = {
        "emulated environments": [r.environment for r in runs],
        "objects applied": {r.environment: r.objects_applied for r in runs},
        "GPU jobs per pool": {
            f"{r.environment}/{pool}": line for r in runs for pool, line in per_pool(r.outcomes).items()
        },
    }
    return write_report(out, "sim", time.monotonic() - started, checks, results, summary, versions_that_ran("sim"))


def per_pool(outcomes: list[JobOutcome]) -> dict[str, str]:
    """Pool -> how many of its smoke Jobs were admitted, placed and completed, where."""
    pools: dict[str, list[JobOutcome]] = {}
    for outcome in outcomes:
        if outcome.pool:
            pools.setdefault(outcome.pool, []).append(outcome)
    lines = {}
    for pool, jobs in pools.items():
        queues = sorted({f"{o.cluster_queue}/{o.flavors.get(GPU_RESOURCE)}" for o in jobs if o.admitted})
        nodes = sorted({n for o in jobs for n in o.nodes})
        lines[pool] = (
            f"{sum(o.admitted for o in jobs)}/{len(jobs)} admitted ({', '.join(queues) or '-'}), "
            f"{sum(bool(o.nodes) for o in jobs)} placed on {', '.join(nodes) or '-'}, "
            f"{sum(o.finished == 'Complete' for o in jobs)} completed"
        )
    return lines


def _in_environment(check: CheckOutcome, environment: str) -> CheckOutcome:
    """test_x -> test_x[env]; test_x[pool/job] -> test_x[env/pool/job]."""
    module, name = check.name.split("::", 1)
    name = name.replace("[", f"[{environment}/", 1) if "[" in name else f"{name}[{environment}]"
    return CheckOutcome(f"{module}::{name}", check.outcome, check.seconds, check.message, check.cause)
