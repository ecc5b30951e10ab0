"""An environment's whole cluster content, as the platform program declares it (run under mocks): the
objects cnai applies plus every Helm release rendered from its pinned chart with exactly the values the
program passes. Each object alone is valid (test_chart_values, the sim's dry runs); here the set is
read as a whole: what a pod mounts, what a URL, monitor or webhook names, must exist, and no secret
may sit in plain text outside a Secret."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from modules.components.endpoints import cluster_endpoints
from modules.components.references import (
    missing_addresses,
    missing_references,
    strings,
    unreachable_webhooks,
    unscraped_monitors,
)
from modules.k8s.declared import GROUP, RELEASE, Declared, declared, plain
from tests.k8s.declared import built_helm, rendered_releases
from tests.specs import CLUSTER_STAND_INS, stand_in_spec

# Objects that a controller or a chart's hook Job creates when it runs, so no rendered document does.
CREATED_AT_RUN_TIME: dict[tuple[str, str, str], str] = {
    ("Secret", "cnai-observability", "kube-prometheus-stack-admission"): "the chart's admission-create hook Job",
    ("Secret", "kserve", "envoy-gateway"): "Envoy Gateway's certgen hook Job",
    ("Secret", "keda", "kedaorg-certs"): "KEDA's operator, which makes and rotates its own certificates",
    ("ServiceMonitor", "cnai-observability", "kube-prometheus-stack-apiserver"): (
        "scrapes Service default/kubernetes, which the API server keeps"
    ),
    ("ServiceMonitor", "cnai-observability", "kube-prometheus-stack-kubelet"): (
        "scrapes Service kube-system/kube-prometheus-stack-kubelet, which the Prometheus operator keeps"
    ),
}


@cache
def _declared(env: str) -> Declared:
    return declared(stand_in_spec(env))


@cache
def _charts(env: str) -> tuple[dict[str, Any], ...]:
    return tuple(d for docs in rendered_releases(built_helm(), _declared(env).releases).values() for d in docs)


def cluster_content(env: str) -> list[dict[str, Any]]:
    return [*_declared(env).objects, *_charts(env)]


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_every_release_is_named_for_its_chart(env: str):
    """Service names derive from release names; an unnamed Release gets a random suffix from Pulumi."""
    assert all(r.get("name") for r in _declared(env).releases)


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_every_secret_configmap_and_service_account_a_pod_needs_exists(env: str):
    assert missing_references(cluster_content(env), set(CREATED_AT_RUN_TIME)) == []


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_every_service_address_cnai_writes_exists(env: str):
    program = _declared(env)
    written = [
        program.objects,
        [r["values"] for r in program.releases],
        cluster_endpoints(stand_in_spec(env)).model_dump(),
    ]
    assert missing_addresses(written, cluster_content(env)) == []


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_every_monitor_scrapes_something(env: str):
    assert unscraped_monitors(cluster_content(env), set(CREATED_AT_RUN_TIME)) == []


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_every_webhook_is_reachable_from_the_api_server(env: str):
    assert unreachable_webhooks(cluster_content(env)) == []


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_no_generated_secret_in_plain_text(env: str):
    """Every key the program generates appears only in Secrets: not in Helm values (kept in the release
    and in Pulumi's state), not in a ConfigMap, an env value or an argument of a rendered object."""
    program = _declared(env)
    generated = set(program.generated)
    outside_secrets = [d for d in cluster_content(env) if d.get("kind") != "Secret"]
    leaks = {
        (where, value)
        for where, texts in (("helm values", [r["values"] for r in program.releases]), ("objects", outside_secrets))
        for text in strings(texts)
        for value in generated
        if value in text
    }
    assert leaks == set()


def _kind(doc: dict[str, Any]) -> str:
    return f"{doc['apiVersion'].split('/')[0]}/{doc['kind']}"


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_what_brings_a_crd_is_installed_before_what_uses_it(env: str):
    """A Helm release or object group that creates a custom resource must wait for the release that
    installs its CRD (the ServiceMonitors of SeaweedFS and Milvus for kube-prometheus-stack's, Kueue's
    Certificates for cert-manager's): Pulumi orders by dependencies, and a component's `depends_on` does
    not reach its children unless the component passes it on."""
    recorder = _declared(env).recorder
    releases = {name: plain(r.inputs) for name, r in recorder.of_type(RELEASE).items()}
    rendered = {name: rendered_releases(built_helm(), [r])[r["name"]] for name, r in releases.items()}
    provider = {
        f"{d['spec']['group']}/{d['spec']['names']['kind']}": name
        for name, docs in rendered.items()
        for d in docs
        if d["kind"] == "CustomResourceDefinition"
    }
    creates = {name: {_kind(d) for d in docs} for name, docs in rendered.items()}
    creates |= {name: {_kind(o) for o in plain(g.inputs["objs"])} for name, g in recorder.of_type(GROUP).items()}
    unordered = sorted(
        f"{name} creates {kind} before {provider[kind]} installs its CRD"
        for name, kinds in creates.items()
        for kind in kinds
        if kind in provider and provider[kind] != name and provider[kind] not in recorder.waits_for(name)
    )
    assert unordered == []
