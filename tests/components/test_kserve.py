"""KServe: runtimes, gateway, and InferenceServices built from the spec, with clear refusals."""

from __future__ import annotations

import pytest

from modules.components.kserve import (
    GATEWAY,
    NAMESPACE,
    ServingError,
    gateway_objects,
    inference_service,
    kserve_objects,
    smoke_llm_service,
    smoke_llm_uri,
)
from modules.components.object_storage import runs_in_cluster
from modules.components.policies import GATEWAY_ACCESS_LABEL, NAME_LABEL
from modules.components.security import security_objects
from modules.spec.namespaces import PLATFORM_NAMESPACES
from tests import specs
from tests.components.test_security import selects
from tests.components.validation import validation_errors
from tests.specs import CLUSTER_STAND_INS, stand_in_spec

ROUTE_GROUP = "gateway.networking.k8s.io"


def test_mlflow_model_on_cpu_uses_mlserver_v2_and_the_team_identity():
    spec = stand_in_spec("prod")
    isvc = inference_service(spec, spec.teams[1], "mlp", "mlflow", "s3://models/mlp/1")
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["runtime"] == "cnai-mlserver" and predictor["model"]["protocolVersion"] == "v2"
    assert predictor["serviceAccountName"] == "serving-models"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert validation_errors(isvc) == []


def test_llm_on_a_gpu_pool_gets_placement_and_gpu_requests():
    spec = stand_in_spec("prod")
    pool = spec.pool("a100-mig")
    isvc = inference_service(spec, spec.teams[1], "llm", "huggingface", "s3://models/llm", pool, replicas=4)
    predictor = isvc["spec"]["predictor"]
    assert predictor["nodeSelector"] == pool.node_labels and predictor["tolerations"] == pool.tolerations
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert predictor["maxReplicas"] == 4
    assert validation_errors(isvc) == []


def test_the_llm_runtime_serves_the_openai_api_not_a_kserve_protocol():
    """vLLM's server answers /v1/chat/completions and /v1/models; declaring KServe's v2 protocol on it
    (as cnai did) promised an API the container does not have."""
    spec = stand_in_spec("prod")
    runtime = next(o for o in kserve_objects(spec) if o["metadata"]["name"] == "cnai-vllm")["spec"]
    assert "protocolVersions" not in runtime
    container = runtime["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    assert "--served-model-name={{.Name}}" in container["args"]
    isvc = inference_service(spec, spec.teams[1], "llm", "huggingface", "s3://models/llm", spec.pool("a100-mig"))
    assert "protocolVersion" not in isvc["spec"]["predictor"]["model"]


def test_unserved_model_format_is_refused():
    spec = stand_in_spec("prod")
    with pytest.raises(ServingError, match="no runtime serves model format 'onnx'"):
        inference_service(spec, spec.teams[0], "x", "onnx", "s3://models/x")


def test_gpu_runtime_without_a_pool_is_refused():
    spec = stand_in_spec("prod")
    with pytest.raises(ServingError, match="needs a GPU pool"):
        inference_service(spec, spec.teams[0], "llm", "huggingface", "s3://models/llm")


def test_more_replicas_than_the_pool_has_gpus_is_refused():
    spec = stand_in_spec("prod")
    with pytest.raises(ServingError, match="has 32"):
        inference_service(spec, spec.teams[0], "llm", "huggingface", "s3://models/llm", spec.pool("h100-train"), 33)


def test_cpu_only_environment_gets_no_gpu_runtime():
    names = {
        o["metadata"]["name"] for o in kserve_objects(stand_in_spec("kind")) if o["kind"] == "ClusterServingRuntime"
    }
    assert names == {"cnai-mlserver"}


def test_gateway_api_through_envoy_not_ingress_nginx():
    kinds = {o["kind"]: o for o in kserve_objects(stand_in_spec("prod"))}
    assert kinds["GatewayClass"]["spec"]["controllerName"].startswith("gateway.envoyproxy.io/")
    assert "Ingress" not in kinds


def admits(listener: dict, gateway_namespace: str, route_namespace: dict, kind: str = "HTTPRoute") -> bool:
    """Gateway API's rule for attaching a route to a listener: allowedRoutes.namespaces (default Same)
    against the route's namespace and its labels, and allowedRoutes.kinds when given."""
    allowed = listener.get("allowedRoutes", {})
    kinds = allowed.get("kinds")
    if kinds and not any(k.get("group", ROUTE_GROUP) == ROUTE_GROUP and k["kind"] == kind for k in kinds):
        return False
    namespaces = allowed.get("namespaces", {})
    origin = namespaces.get("from", "Same")
    name = route_namespace["metadata"]["name"]
    labels = route_namespace["metadata"].get("labels", {}) | {NAME_LABEL: name}  # set by the API server
    if origin == "All":
        return True
    if origin == "Same":
        return name == gateway_namespace
    assert origin == "Selector"
    return selects(namespaces["selector"], labels)


def unlabelled(name: str) -> dict:
    return {"metadata": {"name": name, "labels": {}}}


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_the_gateway_admits_routes_only_from_namespaces_labelled_for_it(env):
    spec = stand_in_spec(env)
    gateway = next(o for o in gateway_objects(spec) if o["kind"] == "Gateway")
    assert gateway["metadata"]["name"] == GATEWAY and validation_errors(gateway) == []
    namespaces = {o["metadata"]["name"]: o for o in security_objects(spec) if o["kind"] == "Namespace"}
    for listener in gateway["spec"]["listeners"]:
        assert listener["allowedRoutes"]["namespaces"]["from"] == "Selector"
        for team in spec.teams:  # every team namespace may serve models: labelled and admitted
            ns = namespaces[team.namespace_name]
            assert ns["metadata"]["labels"][GATEWAY_ACCESS_LABEL] == "true"
            assert admits(listener, NAMESPACE, ns)
            assert not admits(listener, NAMESPACE, ns, kind="TCPRoute")  # HTTPRoutes only
        platform = set(PLATFORM_NAMESPACES.values()) & set(namespaces)
        assert platform and not any(admits(listener, NAMESPACE, namespaces[ns]) for ns in platform)
        for name in ("default", "kube-system", "team-unknown", NAMESPACE):
            assert not admits(listener, NAMESPACE, unlabelled(name)), name


def test_the_admission_rule_is_the_selector_not_the_evaluator():
    spec = stand_in_spec("kind")
    listener = next(o for o in gateway_objects(spec) if o["kind"] == "Gateway")["spec"]["listeners"][0]
    open_listener = listener | {"allowedRoutes": {"namespaces": {"from": "All"}}}
    assert admits(open_listener, NAMESPACE, unlabelled("default"))  # what the Gateway used to do
    labelled = {"metadata": {"name": "anything", "labels": {GATEWAY_ACCESS_LABEL: "true"}}}
    assert admits(listener, NAMESPACE, labelled) and not admits(listener, NAMESPACE, unlabelled("anything"))
    # A selector the schema refuses is caught: the listener must name who may attach.
    broken = dict(listener, allowedRoutes={"namespaces": {"from": "Selectr"}})
    gateway = next(o for o in gateway_objects(spec) if o["kind"] == "Gateway")
    gateway["spec"]["listeners"] = [broken]
    assert validation_errors(gateway)


def test_no_gateway_means_no_gateway_label():
    spec = stand_in_spec("kind")
    kserve = spec.components.kserve.model_copy(update={"gateway": False})
    spec = spec.model_copy(update={"components": spec.components.model_copy(update={"kserve": kserve})})
    assert gateway_objects(spec) == []
    labels = [o["metadata"]["labels"] for o in security_objects(spec) if o["kind"] == "Namespace"]
    assert not any(GATEWAY_ACCESS_LABEL in ns for ns in labels)


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_model_identities_list_only_secrets_that_exist(env):
    """KServe's pod webhook refuses a predictor whose account lists a missing Secret (the sim found it:
    dev's and prod's teams reach a cloud store with their workload identity and have no S3 keys)."""
    spec = stand_in_spec(env)
    accounts = [o for o in kserve_objects(spec) if o["kind"] == "ServiceAccount"]
    assert accounts
    for account in accounts:
        assert ("secrets" in account) is runs_in_cluster(spec), account


def test_predictor_pods_meet_restricted_pod_security():
    spec = stand_in_spec("prod")
    predictor = inference_service(spec, spec.teams[1], "mlp", "mlflow", "s3://models/mlp/1")["spec"]["predictor"]
    assert predictor["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert predictor["model"]["securityContext"]["allowPrivilegeEscalation"] is False


def test_every_runtime_s_predictors_are_scraped_in_every_team_namespace():
    """The serving dashboard reads the predictors' metrics: a PodMonitor per runtime and team, selecting
    the label the runtime gives its pods, at the port its server exports metrics on."""
    spec = stand_in_spec("prod")
    objects = kserve_objects(spec)
    runtimes = {o["metadata"]["name"]: o["spec"]["labels"] for o in objects if o["kind"] == "ClusterServingRuntime"}
    monitors = [o for o in objects if o["kind"] == "PodMonitor"]
    assert {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in monitors} == {
        (t.namespace_name, f"predictors-{r}") for t in spec.teams for r in spec.components.kserve.runtimes
    }
    for monitor in monitors:
        runtime = monitor["metadata"]["name"].removeprefix("predictors-")
        assert monitor["spec"]["selector"]["matchLabels"].items() <= runtimes[f"cnai-{runtime}"].items()
        assert validation_errors(monitor) == []


def test_the_smoke_llm_runs_on_the_first_teams_pool_scaled_by_keda_on_vllms_queue():
    spec = stand_in_spec("prod")
    (isvc,) = smoke_llm_service(spec)
    predictor = isvc["spec"]["predictor"]
    team = spec.teams[0]
    assert isvc["metadata"]["namespace"] == team.namespace_name
    assert predictor["nodeSelector"] == spec.pool(team.gpu_quotas[0].pool).node_labels
    assert predictor["model"]["runtime"] == "cnai-vllm" and predictor["model"]["storageUri"] == smoke_llm_uri(spec)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "keda"
    (metric,) = predictor["autoScaling"]["metrics"]
    query = metric["external"]["metric"]["query"]
    assert "vllm:num_requests_waiting" in query and f'namespace="{team.namespace_name}"' in query
    assert metric["external"]["target"] == {"type": "Value", "value": "4"}  # KEDA's threshold, per replica
    assert "scaleMetric" not in predictor  # KServe's webhook refuses it beside KEDA (the sim found it)
    assert validation_errors(isvc) == []


def test_without_prometheus_the_llm_scales_on_kserves_hpa_metric():
    document = specs.prod_like()
    document["components"]["observability"] = {"enabled": False}
    (isvc,) = smoke_llm_service(specs.spec(document))
    assert "autoScaling" not in isvc["spec"]["predictor"] and isvc["spec"]["predictor"]["scaleMetric"] == "cpu"
    assert "serving.kserve.io/autoscalerClass" not in isvc["metadata"]["annotations"]


def test_no_llm_service_without_a_gpu_pool_the_vllm_runtime_or_a_models_bucket():
    assert smoke_llm_service(stand_in_spec("kind")) == []  # its one pool has no team quota
    without_vllm = specs.prod_like()
    without_vllm["components"]["kserve"]["runtimes"] = ["mlserver"]
    assert smoke_llm_service(specs.spec(without_vllm)) == []
