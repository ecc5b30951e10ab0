"""The cross-reference checks on small hand-made contents: each finds what it is for, and only that."""

from __future__ import annotations

from typing import Any

from modules.components.references import (
    missing_addresses,
    missing_references,
    unreachable_webhooks,
    unscraped_monitors,
)


def _obj(kind: str, name: str, ns: str = "app", **body: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, **body.pop("meta", {})},
        **body,
    }


def _deployment(pod: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    template = {"metadata": {"labels": labels or {"app": "web"}}, "spec": pod}
    return _obj("Deployment", "web", spec={"template": template})


def _service(port: int = 443, target: int | str = 9443, name: str = "web", **extra: Any) -> dict[str, Any]:
    spec = {"selector": {"app": "web"}, "ports": [{"name": "https", "port": port, "targetPort": target}]}
    return _obj("Service", name, spec=spec, **extra)


WEB_POD = {"containers": [{"name": "c", "ports": [{"name": "https", "containerPort": 9443}]}]}


def test_a_mounted_secret_must_exist_with_the_key_read():
    pod = {
        "containers": [
            {"name": "c", "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "ak"}}}]}
        ],
        "volumes": [
            {"name": "v", "configMap": {"name": "conf"}},
            {"name": "o", "secret": {"secretName": "opt", "optional": True}},
        ],
    }
    docs = [_deployment(pod)]
    assert missing_references(docs, set()) == [
        "Deployment app/web: ConfigMap app/conf does not exist",
        "Deployment app/web: Secret app/s3 does not exist",
    ]
    docs += [_obj("ConfigMap", "conf", data={"x": "1"}), _obj("Secret", "s3", stringData={"AWS": "x"})]
    assert missing_references(docs, set()) == ["Deployment app/web: Secret app/s3 has no key 'ak' (keys: AWS)"]
    assert missing_references(docs, {("Secret", "app", "s3")}) == []  # a controller writes it


def test_a_certificates_secret_is_issued_by_cert_manager():
    pod = {"containers": [{"name": "c"}], "volumes": [{"name": "tls", "secret": {"secretName": "web-tls"}}]}
    certificate = _obj("Certificate", "web", spec={"secretName": "web-tls"})
    assert missing_references([_deployment(pod)], set()) != []
    assert missing_references([_deployment(pod), certificate], set()) == []


def test_a_service_address_needs_the_service_and_its_port():
    docs = [_service(port=8333, name="seaweedfs-s3", meta={"namespace": "store"})]
    docs[0]["metadata"]["namespace"] = "store"
    texts = {
        "a": "http://seaweedfs-s3.store.svc:8333/x",
        "b": ["mlflow.ml.svc.cluster.local:5000"],
        "c": "seaweedfs-s3.store.svc:9000",
    }
    assert missing_addresses(texts, docs) == [
        "mlflow.ml.svc.cluster.local:5000: no Service ml/mlflow",
        "seaweedfs-s3.store.svc:9000: Service store/seaweedfs-s3 has no port 9000 (ports: [8333])",
    ]


def test_an_inference_services_predictor_is_a_service():
    isvc = _obj("InferenceService", "mlp", ns="team")
    assert missing_addresses("http://mlp-predictor.team.svc:80/v2", [isvc]) == []


def test_a_service_monitor_must_select_a_service_with_its_port():
    monitor = _obj(
        "ServiceMonitor", "web", spec={"selector": {"matchLabels": {"app": "web"}}, "endpoints": [{"port": "metrics"}]}
    )
    assert unscraped_monitors([monitor], set()) == ["ServiceMonitor app/web: its selector matches no Service"]
    service = _service(meta={"labels": {"app": "web"}})
    assert unscraped_monitors([monitor, service], set()) == [
        "ServiceMonitor app/web: no target has a port named 'metrics'"
    ]
    service["spec"]["ports"][0]["name"] = "metrics"
    assert unscraped_monitors([monitor, service], set()) == []


def test_a_pod_monitor_must_select_a_pod_with_its_port():
    monitor = _obj(
        "PodMonitor",
        "web",
        spec={
            "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
            "podMetricsEndpoints": [{"port": "https"}],
        },
    )
    assert unscraped_monitors([monitor], set()) == ["PodMonitor app/web: its selector matches no pod"]
    assert unscraped_monitors([monitor, _deployment(WEB_POD)], set()) == []


def _webhook(port: int = 443) -> dict[str, Any]:
    hook = {"name": "v.web", "clientConfig": {"service": {"namespace": "app", "name": "web", "port": port}}}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "web"},
        "webhooks": [hook],
    }


def _policy(name: str, ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return _obj("NetworkPolicy", name, spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress})


def test_a_webhook_needs_a_service_a_pod_and_an_open_port():
    assert unreachable_webhooks([_webhook()]) == ["ValidatingWebhookConfiguration web (v.web): no Service app/web"]
    assert unreachable_webhooks([_webhook(), _service()]) == [
        "ValidatingWebhookConfiguration web (v.web): Service app/web selects no pod"
    ]
    assert unreachable_webhooks([_webhook(), _service(target="https"), _deployment(WEB_POD)]) == []


def test_network_policies_must_let_the_api_server_reach_a_webhook():
    content = [_webhook(), _service(), _deployment(WEB_POD)]
    deny = _policy("default-deny-ingress", [])
    same_namespace = _policy("same", [{"from": [{"podSelector": {}}]}])
    assert unreachable_webhooks([*content, deny, same_namespace]) == [
        "ValidatingWebhookConfiguration web (v.web): NetworkPolicies in app close port [9443] of its pods"
        " to the API server"
    ]
    wrong_port = _policy("api", [{"ports": [{"port": 443}]}])
    assert unreachable_webhooks([*content, deny, wrong_port]) != []
    open_port = _policy("api", [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 9443}]}])
    assert unreachable_webhooks([*content, deny, open_port]) == []


def test_a_pod_monitor_may_select_the_pods_a_serving_runtime_will_run():
    """Predictor pods exist only once an InferenceService asks; the runtime's labels say what they carry."""
    monitor = _obj(
        "PodMonitor",
        "predictors-mlserver",
        spec={"selector": {"matchLabels": {"runtime": "mlserver"}}, "podMetricsEndpoints": [{"portNumber": 8082}]},
    )
    runtime = _obj("ClusterServingRuntime", "cnai-mlserver", spec={"labels": {"runtime": "mlserver"}})
    assert unscraped_monitors([monitor], set()) != []
    assert unscraped_monitors([monitor, runtime], set()) == []
