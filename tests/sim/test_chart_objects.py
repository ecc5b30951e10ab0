"""What the Helm releases would put in the cluster, rendered from the pinned charts with cnai's values,
checked by the sim's real API server with a server-side dry run: Kubernetes' own schemas, the CRDs of
the same chart versions (the sim installs them), CEL rules, the controllers' admission webhooks, and
Pod Security admission enforcing the level cnai labels each namespace with (every pod template is
submitted as a Pod, since Pod Security enforces on Pods)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from modules.cluster import apply as kube
from modules.k8s.render import helm_releases
from modules.k8s.security import security_objects
from modules.sim import build
from modules.sim.charts import render
from modules.sim.runtime import SimRuntime
from modules.spec import load_spec

pytestmark = pytest.mark.sim

EMULATED = ("dev", "prod")
SUBCHARTS_MISSING = ("kube-prometheus-stack",)  # see tests/k8s/test_chart_values.py
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
# Pod templates of the charts that Pod Security rejects at the level cnai labels their namespace with.
# Issue 19 fixes them (chart values, or a namespace level with its reason); until then this list is
# exact: a new violation fails, and so does a fixed one that is still listed.
KNOWN_POD_SECURITY_VIOLATIONS: dict[str, set[str]] = {}


def _releases(env: str) -> list[dict[str, Any]]:
    return [r for r in helm_releases(load_spec(env)) if r["name"] not in SUBCHARTS_MISSING]


CASES = [(env, r["name"]) for env in EMULATED for r in _releases(env)]


def _rendered(env: str, name: str) -> list[dict[str, Any]]:
    release = next(r for r in _releases(env) if r["name"] == name)
    return render(str(build.path_of("helm")), name, name, release["namespace"], release["values"])


def _placed(dyn: Any, doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """helm template leaves the release namespace off namespaced objects; the install would set it."""
    if kube.resource_of(dyn, doc).namespaced:
        doc["metadata"].setdefault("namespace", namespace)
    return doc


def _namespace(env: str, name: str) -> str:
    return next(r["namespace"] for r in _releases(env) if r["name"] == name)


@pytest.fixture(scope="module")
def namespaces(sim: SimRuntime) -> None:
    """The namespaces of both environments with cnai's Pod Security labels (dev's and prod's agree)."""
    dyn = sim.client()
    for env in EMULATED:
        kube.apply_all(dyn, [o for o in security_objects(load_spec(env)) if o["kind"] == "Namespace"])


@pytest.mark.parametrize(("env", "name"), CASES, ids=[f"{e}-{n}" for e, n in CASES])
def test_rendered_objects_are_valid_for_the_api_server(sim: SimRuntime, namespaces: None, env: str, name: str):
    dyn = sim.client()
    docs = [_placed(dyn, d, _namespace(env, name)) for d in _rendered(env, name) if d["kind"] != "Namespace"]
    rejected = []
    for doc in docs:
        try:
            kube.apply_one(dyn, doc, dry_run=True)
        except ApiException as exc:
            rejected.append(f"{doc['kind']} {doc['metadata']['name']}: {_reason(exc)}")
    assert rejected == [], "\n".join(rejected)


@pytest.mark.parametrize(("env", "name"), CASES, ids=[f"{e}-{n}" for e, n in CASES])
def test_pod_templates_meet_their_namespaces_pod_security_level(sim: SimRuntime, namespaces: None, env: str, name: str):
    dyn = sim.client()
    violations = set()
    for doc in _rendered(env, name):
        doc = _placed(dyn, doc, _namespace(env, name))
        template = _pod_template(doc)
        if template is None:
            continue
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"psa-{doc['metadata']['name']}"[:63], "namespace": doc["metadata"]["namespace"]},
            "spec": template["spec"],
        }
        try:
            kube.apply_one(dyn, pod, dry_run=True)
        except ApiException as exc:
            if "violates PodSecurity" in _reason(exc):
                violations.add(f"{doc['kind']}/{doc['metadata']['name']}")
            else:
                raise
    assert violations == KNOWN_POD_SECURITY_VIOLATIONS.get(f"{env}/{name}", set())


def _pod_template(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in WORKLOADS:
        return doc["spec"]["template"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]
    return None


def _reason(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message", exc.body)
    except (TypeError, ValueError):
        return str(exc.body or exc.reason)
