"""The sim's control plane is real: TLS and authentication, RBAC, nodes shaped like the pools, Kueue."""

from __future__ import annotations

import base64
import contextlib
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes.client.exceptions import ApiException

from modules import gobuild as build
from modules.cluster import apply as kube
from modules.sim.nodes import node_groups, node_name
from modules.sim.runtime import SimRuntime
from modules.sim.servers import KUEUE_NAMESPACE
from tests.sim.conftest import built

pytestmark = pytest.mark.sim


@contextlib.contextmanager
def probe_namespace(dyn: Any, name: str) -> Iterator[None]:
    """A namespace for one test's probe objects, deleted afterwards."""
    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    namespaces.server_side_apply(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, name=name, field_manager="cnai-test"
    )
    try:
        yield
    finally:
        namespaces.delete(name=name)


def _tls(sim: SimRuntime, identity: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(sim.paths.ca))
    if identity:
        context.load_cert_chain(str(sim.paths.cert(identity)), str(sim.paths.key(identity)))
    return context


def test_apiserver_ready_over_tls_with_a_client_certificate(sim: SimRuntime):
    base = f"https://127.0.0.1:{sim.ports.apiserver}"
    ready = httpx.get(f"{base}/readyz?verbose", verify=_tls(sim, "admin"), timeout=5)
    assert ready.status_code == 200 and "readyz check passed" in ready.text
    version = httpx.get(f"{base}/version", verify=_tls(sim, "admin"), timeout=5).json()
    assert version["gitVersion"] == build.version("kubernetes")
    anonymous = httpx.get(f"{base}/api/v1/namespaces", verify=_tls(sim, None), timeout=5)
    assert anonymous.status_code in (401, 403)  # no certificate: no access


def test_rbac_is_enforced_for_component_identities(sim: SimRuntime):
    """The scheduler's certificate is system:kube-scheduler: it may list pods but not read secrets."""
    base = f"https://127.0.0.1:{sim.ports.apiserver}/api/v1"
    tls = _tls(sim, "kube-scheduler")
    assert httpx.get(f"{base}/pods", verify=tls, timeout=5).status_code == 200
    assert httpx.get(f"{base}/secrets", verify=tls, timeout=5).status_code == 403


def test_every_component_is_running_and_healthy(sim: SimRuntime):
    status = {s.name: s for s in sim.status()}
    control_plane = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    expected = control_plane | {"kueue", "kserve", "jobset", "provisioner"}
    assert set(status) == expected
    assert all(s.state == "RUNNING" and s.healthy for s in status.values()), status
    rss = sim.rss_mib()
    assert rss["total"] > 0


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_emulated_pool_has_ready_nodes_of_its_shape(sim: SimRuntime, env: str):
    spec = built(env)
    api = sim.client().resources.get(api_version="v1", kind="Node")
    for group in node_groups(spec):
        for index in range(group.max_nodes):
            node = api.get(name=node_name(group, index)).to_dict()
            conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
            assert conditions["Ready"] == "True", node["metadata"]["name"]
            assert node["status"]["allocatable"] == group.allocatable()
            assert node["status"]["capacity"] == group.capacity()
            assert group.labels.items() <= node["metadata"]["labels"].items()
            assert [
                {k: t[k] for k in ("key", "value", "effect")} for t in node["spec"].get("taints", [])
            ] == group.taints


def test_kueue_crds_are_the_charts_and_established(sim: SimRuntime):
    api = sim.client().resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    kueue = [c for c in api.get().to_dict()["items"] if c["spec"]["group"] == "kueue.x-k8s.io"]
    names = {c["spec"]["names"]["kind"] for c in kueue}
    assert {"ClusterQueue", "LocalQueue", "ResourceFlavor", "Workload", "Cohort", "WorkloadPriorityClass"} <= names
    for crd in kueue:
        assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
        served = [v["name"] for v in crd["spec"]["versions"] if v["served"]]
        assert "v1beta2" in served


def test_kueue_webhooks_are_reachable_over_tls_from_the_api_server(sim: SimRuntime):
    """Kueue's webhook server answers on 127.0.0.1 with the certificate its own certificate management
    accepted, and the webhook configurations carry that CA (injected by Kueue) and the loopback URL."""
    kueue_ca = ssl.create_default_context(cafile=str(sim.paths.cert("kueue-ca")))
    response = httpx.post(
        f"https://127.0.0.1:{sim.ports.kueue_webhook}/mutate-batch-v1-job", verify=kueue_ca, timeout=5, json={}
    )
    assert response.status_code in (200, 400)  # a TLS handshake and an HTTP answer from Kueue's webhook server
    bundle = base64.b64encode(sim.paths.cert("kueue-ca").read_bytes()).decode()
    dyn = sim.client()
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        hooks = dyn.resources.get(api_version="admissionregistration.k8s.io/v1", kind=kind).get().to_dict()["items"]
        kueue = [w for h in hooks if h["metadata"]["name"].startswith("kueue") for w in h["webhooks"]]
        assert kueue
        for hook in kueue:
            assert hook["clientConfig"]["url"].startswith(f"https://127.0.0.1:{sim.ports.kueue_webhook}/")
            assert hook["clientConfig"]["caBundle"] == bundle


def test_kueue_mutating_webhook_is_called_by_the_api_server(sim: SimRuntime):
    """A queued Job is created unsuspended; Kueue's webhook suspends it during admission (before any
    controller could): proof the API server called the webhook."""
    dyn = sim.client()
    jobs = dyn.resources.get(api_version="batch/v1", kind="Job")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "probe",
            "namespace": "sim-webhook-probe",
            "labels": {"kueue.x-k8s.io/queue-name": "none"},
        },
        "spec": {
            "suspend": False,
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    with probe_namespace(dyn, "sim-webhook-probe"):
        created = jobs.create(body=job, namespace="sim-webhook-probe").to_dict()
    assert created["spec"]["suspend"] is True


def _get(url: str, tls: ssl.SSLContext) -> int:
    """Status of a GET, retrying 429 as client-go does (API priority and fairness sheds load at start)."""
    for _ in range(20):
        code = httpx.get(url, verify=tls, timeout=5).status_code
        if code != 429:
            return code
        time.sleep(0.5)
    return code


def test_kueue_runs_as_its_charts_service_account(sim: SimRuntime):
    """Kueue's certificate is the chart's service account; the chart's RBAC is all it has."""
    base = f"https://127.0.0.1:{sim.ports.apiserver}"
    tls = _tls(sim, "kueue")
    assert _get(f"{base}/apis/kueue.x-k8s.io/v1beta2/clusterqueues", tls) == 200
    assert _get(f"{base}/api/v1/namespaces/{KUEUE_NAMESPACE}/secrets", tls) == 200  # the chart's secrets Role
    assert _get(f"{base}/api/v1/namespaces/default/secrets", tls) == 403


def test_kserve_validating_webhook_is_called_by_the_api_server(sim: SimRuntime):
    """KServe's validator refuses an InferenceService name that is not a DNS-1035 label (the API server
    alone would accept it): proof the API server reached KServe's webhook over TLS."""
    dyn = sim.client()
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "1-starts-with-a-digit", "namespace": "sim-kserve-probe"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "mlflow"}, "storageUri": "s3://models/x"}}},
    }
    with probe_namespace(dyn, "sim-kserve-probe"), pytest.raises(ApiException) as refused:
        kube.apply_one(dyn, isvc)
    assert refused.value.status == 403  # how the API server reports a webhook's denial
    assert '"inferenceservice.kserve-webhook-server.validator\\" denied the request' in refused.value.body
    assert "must start with alphabetical character" in refused.value.body


def test_kserve_runs_as_its_charts_service_account(sim: SimRuntime):
    base = f"https://127.0.0.1:{sim.ports.apiserver}"
    tls = _tls(sim, "kserve")
    assert _get(f"{base}/apis/serving.kserve.io/v1beta1/inferenceservices", tls) == 200
    assert _get(f"{base}/apis/kueue.x-k8s.io/v1beta2/clusterqueues", tls) == 403  # not in its chart's RBAC
