"""KServe: runtimes, gateway, and InferenceServices built from the spec, with clear refusals."""

from __future__ import annotations

import pytest

from modules.k8s.kserve import ServingError, inference_service, kserve_objects
from modules.spec import load_spec
from tests.k8s.validation import validation_errors


def test_mlflow_model_on_cpu_uses_mlserver_v2_and_the_team_identity():
    spec = load_spec("prod")
    isvc = inference_service(spec, spec.teams[1], "mlp", "mlflow", "s3://models/mlp/1")
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["runtime"] == "cnai-mlserver" and predictor["model"]["protocolVersion"] == "v2"
    assert predictor["serviceAccountName"] == "serving-models"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert validation_errors(isvc) == []


def test_llm_on_a_gpu_pool_gets_placement_and_gpu_requests():
    spec = load_spec("prod")
    pool = spec.pool("a100-mig")
    isvc = inference_service(spec, spec.teams[1], "llm", "huggingface", "s3://models/llm", pool, replicas=4)
    predictor = isvc["spec"]["predictor"]
    assert predictor["nodeSelector"] == pool.node_labels and predictor["tolerations"] == pool.tolerations
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert predictor["maxReplicas"] == 4
    assert validation_errors(isvc) == []


def test_unserved_model_format_is_refused():
    spec = load_spec("prod")
    with pytest.raises(ServingError, match="no runtime serves model format 'onnx'"):
        inference_service(spec, spec.teams[0], "x", "onnx", "s3://models/x")


def test_gpu_runtime_without_a_pool_is_refused():
    spec = load_spec("prod")
    with pytest.raises(ServingError, match="needs a GPU pool"):
        inference_service(spec, spec.teams[0], "llm", "huggingface", "s3://models/llm")


def test_more_replicas_than_the_pool_has_gpus_is_refused():
    spec = load_spec("prod")
    with pytest.raises(ServingError, match="has 32"):
        inference_service(spec, spec.teams[0], "llm", "huggingface", "s3://models/llm", spec.pool("h100-train"), 33)


def test_cpu_only_environment_gets_no_gpu_runtime():
    names = {o["metadata"]["name"] for o in kserve_objects(load_spec("kind")) if o["kind"] == "ClusterServingRuntime"}
    assert names == {"cnai-mlserver"}


def test_gateway_api_through_envoy_not_ingress_nginx():
    kinds = {o["kind"]: o for o in kserve_objects(load_spec("prod"))}
    assert kinds["GatewayClass"]["spec"]["controllerName"].startswith("gateway.envoyproxy.io/")
    assert "Ingress" not in kinds
