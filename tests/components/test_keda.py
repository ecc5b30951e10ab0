"""KEDA: installed exactly where LLM predictors are autoscaled, in a namespace that admits only what it
needs (the API server's calls to its metrics API and webhooks) and reaches only the API server and
Prometheus."""

from __future__ import annotations

from modules.components.keda import METRICS_API_PORT, NAMESPACE, WEBHOOK_PORT, autoscales_llms
from modules.components.security import security_objects
from tests import specs
from tests.specs import stand_in_spec


def test_installed_where_llms_are_served_and_prometheus_runs():
    assert autoscales_llms(stand_in_spec("prod"))
    assert not autoscales_llms(specs.spec(specs.local_document()))
    cpu_only = specs.prod_like()
    cpu_only["components"]["kserve"]["runtimes"] = ["mlserver"]
    assert not autoscales_llms(specs.spec(cpu_only))
    without_prometheus = specs.prod_like()
    without_prometheus["components"]["observability"] = {"enabled": False}
    assert not autoscales_llms(specs.spec(without_prometheus))


def test_its_namespace_is_restricted_and_admits_only_the_api_servers_calls():
    objects = security_objects(stand_in_spec("prod"))
    (namespace,) = [o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == NAMESPACE]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policies = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == NAMESPACE]
    ingress_ports = {
        p["port"] for o in policies for rule in o["spec"].get("ingress", []) for p in rule.get("ports", [])
    }
    assert {METRICS_API_PORT, WEBHOOK_PORT} <= ingress_ports
    egress_to = {o["metadata"]["name"] for o in policies if o["spec"].get("egress")}
    assert any("prometheus" in name for name in egress_to), egress_to
