"""KServe in Standard (RawDeployment) mode: serving runtimes, the gateway, and InferenceServices.

No Knative or Istio: cert-manager for KServe's webhooks, Envoy Gateway for Gateway API (the retired
ingress-nginx is not used). MLServer serves mlflow/sklearn models over Open Inference Protocol v2,
vLLM serves LLMs on GPU pools.
"""

from __future__ import annotations

from typing import Any

from modules.components.identities import Workload, buckets_of, cloud_store, service_account_annotations
from modules.components.keda import autoscales_llms
from modules.components.object_storage import COMPONENT as STORAGE
from modules.components.object_storage import TEAM_CREDENTIALS_SECRET, runs_in_cluster
from modules.components.objects import annotate, k8s_object, non_root_container_security
from modules.components.observability import COMPONENT as OBSERVABILITY
from modules.components.policies import GATEWAY_ACCESS_LABEL, in_namespace, matching, network_policy, tcp
from modules.components.registry import Component, Release, Service
from modules.spec import GpuPool, Spec, Team
from modules.spec.models import GPU_RESOURCE
from modules.spec.namespaces import PLATFORM_NAMESPACES
from modules.versions import image

NAMESPACE = PLATFORM_NAMESPACES["kserve"]
GATEWAY = "cnai-gateway"
GATEWAY_CLASS = "envoy"
GATEWAY_LISTENERS = {"http": 80}  # listener name -> port of the Gateway's Service
# KServe's default container port of a predictor (its Service maps port 80 to it); vLLM is told the same.
PREDICTOR_PORT = 8080
PREDICTOR_LABEL = "serving.kserve.io/inferenceservice"  # KServe labels every predictor pod with its isvc
# Envoy Gateway runs a Gateway's proxies in its own namespace (it is installed in NAMESPACE), labelled
# with the Gateway they serve, and binds a listener port below 1024 at port + 10000 (no NET_BIND_SERVICE).
PROXY_LABELS = {
    "gateway.envoyproxy.io/owning-gateway-name": GATEWAY,
    "gateway.envoyproxy.io/owning-gateway-namespace": NAMESPACE,
}
ENVOY_PRIVILEGED_PORT_SHIFT = 10000
RUNTIME_FORMATS = {"mlserver": ["mlflow", "sklearn"], "vllm": ["huggingface", "vllm"]}
GPU_RUNTIMES = {"vllm"}
# KServe inference protocol per runtime; vLLM has none of KServe's: it serves the OpenAI API.
RUNTIME_PROTOCOLS = {"mlserver": "v2"}
# Where each runtime's server exports Prometheus metrics (MLServer: its own metrics port; vLLM: its API
# port), and the pod label that tells the runtimes' pods apart for their PodMonitors.
RUNTIME_METRICS_PORTS = {"mlserver": 8082, "vllm": PREDICTOR_PORT}
RUNTIME_LABEL = "cnai.io/serving-runtime"


class ServingError(ValueError):
    """An InferenceService the platform cannot serve; the message says why."""


def serving_runtimes(spec: Spec) -> list[dict[str, Any]]:
    api = "serving.kserve.io/v1alpha1"
    runtimes = []
    if "mlserver" in spec.components.kserve.runtimes:
        runtimes.append(
            k8s_object(
                api,
                "ClusterServingRuntime",
                "cnai-mlserver",
                spec={
                    "supportedModelFormats": [
                        {"name": f, "version": "1", "autoSelect": True} for f in RUNTIME_FORMATS["mlserver"]
                    ],
                    "protocolVersions": [RUNTIME_PROTOCOLS["mlserver"]],
                    "labels": {RUNTIME_LABEL: "mlserver"},
                    "containers": [
                        {
                            "name": "kserve-container",
                            "image": image("mlserver"),
                            "env": [
                                {"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "mlserver_mlflow.MLflowRuntime"}
                            ],
                            "resources": {
                                "requests": {"cpu": "1", "memory": "2Gi"},
                                "limits": {"cpu": "2", "memory": "4Gi"},
                            },
                            "securityContext": non_root_container_security(),
                        }
                    ],
                },
            )
        )
    if "vllm" in spec.components.kserve.runtimes and spec.gpu_pools:
        runtimes.append(
            k8s_object(
                api,
                "ClusterServingRuntime",
                "cnai-vllm",
                spec={
                    "supportedModelFormats": [{"name": f, "autoSelect": True} for f in RUNTIME_FORMATS["vllm"]],
                    # No protocolVersions: vLLM serves the OpenAI API (/v1/chat/completions, /v1/models),
                    # not KServe's v1/v2 inference protocols, as KServe's own vLLM runtime declares.
                    "labels": {RUNTIME_LABEL: "vllm"},
                    "containers": [
                        {
                            "name": "kserve-container",
                            "image": image("vllm"),  # its entrypoint is vLLM's OpenAI API server
                            "args": [
                                "--model=/mnt/models",
                                f"--port={PREDICTOR_PORT}",
                                "--served-model-name={{.Name}}",  # clients ask for the InferenceService's name
                            ],
                            "env": [
                                {"name": "HF_HOME", "value": "/tmp"},
                                {"name": "VLLM_CONFIG_ROOT", "value": "/tmp"},
                            ],
                            # The model is registered (and served) once /v1/models answers.
                            "readinessProbe": {
                                "httpGet": {"path": "/v1/models", "port": PREDICTOR_PORT},
                                "periodSeconds": 10,
                            },
                            # Weights live in GPU memory; the host holds the process and the loading buffers.
                            # Requests fit the smallest GPU node cnai uses (a 4-vCPU/16-GiB g5.xlarge keeps
                            # 3920m/14.5 GiB after the kubelet's share): fit.py checks every pool.
                            "resources": {
                                "requests": {"cpu": "2", "memory": "12Gi"},
                                "limits": {"cpu": "4", "memory": "14Gi"},
                            },
                            "securityContext": non_root_container_security(),
                        }
                    ],
                },
            )
        )
    return runtimes


def gateway_enabled(spec: Spec) -> bool:
    return spec.components.kserve.enabled and spec.components.kserve.gateway


def proxy_container_ports() -> tuple[int, ...]:
    """The ports the Gateway's Envoy pods listen on (what a NetworkPolicy sees after the Service)."""
    return tuple(p + ENVOY_PRIVILEGED_PORT_SHIFT if p < 1024 else p for p in GATEWAY_LISTENERS.values())


def allowed_routes() -> dict[str, Any]:
    """Routes attach only from namespaces labelled for the gateway (the security baseline labels team
    namespaces; KServe creates each InferenceService's HTTPRoute in the InferenceService's namespace)."""
    return {
        "namespaces": {"from": "Selector", "selector": {"matchLabels": {GATEWAY_ACCESS_LABEL: "true"}}},
        "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
    }


def gateway_objects(spec: Spec) -> list[dict[str, Any]]:
    if not spec.components.kserve.gateway:
        return []
    api = "gateway.networking.k8s.io/v1"
    listeners = [
        {"name": name, "protocol": "HTTP", "port": port, "allowedRoutes": allowed_routes()}
        for name, port in GATEWAY_LISTENERS.items()
    ]
    return [
        k8s_object(
            api, "GatewayClass", GATEWAY_CLASS, spec={"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}
        ),
        k8s_object(
            api, "Gateway", GATEWAY, NAMESPACE, spec={"gatewayClassName": GATEWAY_CLASS, "listeners": listeners}
        ),
    ]


def model_service_account_name(team: Team) -> str:
    return f"{team.name}-models"


def model_workloads(spec: Spec) -> list[Workload]:
    """Each team's model identity reads the models (and MLflow's artifacts) from a cloud store."""
    if not (spec.components.kserve.enabled and cloud_store(spec)):
        return []
    buckets = buckets_of(spec, "models", "mlflow-artifacts")
    return [
        Workload(f"models-{t.name}", t.namespace_name, model_service_account_name(t), buckets, writes=False)
        for t in spec.teams
    ]


def model_service_account(spec: Spec, team: Team) -> dict[str, Any]:
    """The identity InferenceServices of a team pull models with: the team's own scoped S3 keys in the
    cluster's store, or the team's read-only cloud identity."""
    # KServe's pod webhook reads the S3 keys of the Secrets a predictor's account lists, and refuses the
    # pod if one is missing: list the team's keys only where they exist (the sim found this on dev).
    keys = {"secrets": [{"name": TEAM_CREDENTIALS_SECRET}]} if runs_in_cluster(spec) else {}
    account = k8s_object(
        "v1",
        "ServiceAccount",
        model_service_account_name(team),
        team.namespace_name,
        automountServiceAccountToken=False,
        **keys,
    )
    return annotate(account, service_account_annotations(spec, model_workloads(spec), f"models-{team.name}"))


def inference_service(
    spec: Spec,
    team: Team,
    name: str,
    model_format: str,
    storage_uri: str,
    pool: GpuPool | None = None,
    replicas: int | None = None,
) -> dict[str, Any]:
    """An InferenceService for a model in the platform's object store, on a GPU pool when given."""
    kserve = spec.components.kserve
    runtime = next((r for r in kserve.runtimes if model_format in RUNTIME_FORMATS[r]), None)
    if runtime is None:
        served = sorted({f for r in kserve.runtimes for f in RUNTIME_FORMATS[r]})
        raise ServingError(f"{name}: no runtime serves model format {model_format!r}; served: {', '.join(served)}")
    if runtime in GPU_RUNTIMES and pool is None:
        raise ServingError(f"{name}: runtime {runtime} needs a GPU pool and {spec.name} has none given")
    max_replicas = replicas or kserve.max_replicas
    if pool is not None and max_replicas > pool.max_gpu_slots:
        raise ServingError(
            f"{name}: {max_replicas} replicas need {max_replicas} GPUs; pool {pool.name} has {pool.max_gpu_slots}"
        )
    model: dict[str, Any] = {
        "modelFormat": {"name": model_format},
        "runtime": f"cnai-{runtime}",
        **({"protocolVersion": RUNTIME_PROTOCOLS[runtime]} if runtime in RUNTIME_PROTOCOLS else {}),
        "storageUri": storage_uri,
        "securityContext": non_root_container_security(),
    }
    predictor: dict[str, Any] = {
        "model": model,
        # Pod Security `restricted` in team namespaces: seccomp at pod level covers KServe's injected
        # storage-initializer too (its container context comes from the chart's ClusterStorageContainer).
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "serviceAccountName": model_service_account_name(team),
        "minReplicas": min(kserve.min_replicas, max_replicas),
        "maxReplicas": max_replicas,
        "scaleMetric": kserve.scale_metric,
        "scaleTarget": kserve.scale_target,
    }
    if pool is not None:
        model["resources"] = {"limits": {GPU_RESOURCE: "1"}, "requests": {GPU_RESOURCE: "1"}}
        predictor |= {"nodeSelector": pool.node_labels, "tolerations": pool.tolerations}
    isvc = k8s_object(
        "serving.kserve.io/v1beta1", "InferenceService", name, team.namespace_name, spec={"predictor": predictor}
    )
    isvc["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "Standard"}
    return isvc


SMOKE_MODEL = "cnai-smoke-mlp"


def models_uri(spec: Spec, path: str) -> str:
    """A location in the platform's models bucket, as an InferenceService's storageUri names it."""
    scheme = "gs" if spec.components.object_storage.provider == "gcs" else "s3"
    return f"{scheme}://{spec.bucket('models')}/{path}"


def has_models_bucket(spec: Spec) -> bool:
    storage = spec.components.object_storage
    return storage.enabled and "models" in storage.buckets


def smoke_model_uri(spec: Spec) -> str:
    """Where the smoke suite publishes the model it trained (the registered version's MLflow model
    folder), and the smoke InferenceService serves from."""
    return models_uri(spec, f"smoke/{SMOKE_MODEL}")


SMOKE_LLM = "cnai-smoke-chat"
LLM_PREFIX = "llm"  # generative models: Hugging Face folders under <models bucket>/llm/<name>/


def smoke_llm_uri(spec: Spec) -> str:
    """Where the smoke suite publishes the small chat model it trains, and the LLM servers read it."""
    return models_uri(spec, f"{LLM_PREFIX}/{SMOKE_LLM}")


def smoke_inference_service(spec: Spec) -> list[dict[str, Any]]:
    """The InferenceService the smoke suite's pipeline check infers against, owned by the platform:
    MLServer on CPU in the first team's namespace, with that team's model identity."""
    kserve = spec.components.kserve
    if not (kserve.enabled and "mlserver" in kserve.runtimes and has_models_bucket(spec) and spec.teams):
        return []
    return [inference_service(spec, spec.teams[0], SMOKE_MODEL, "mlflow", smoke_model_uri(spec), replicas=1)]


def llm_pool(spec: Spec, team: Team) -> GpuPool | None:
    """The GPU pool a team's LLM predictor runs on: the first its GPU quotas name."""
    names = [q.pool for q in team.gpu_quotas]
    return next((p for p in spec.gpu_pools if p.name in names), None)


def keda_autoscaling(spec: Spec, isvc: dict[str, Any]) -> dict[str, Any]:
    """An LLM predictor scaled on vLLM's queue: KEDA adds a replica per `llm_waiting_target` requests
    waiting (read from Prometheus, which scrapes every predictor through its runtime's PodMonitor).
    KServe's webhook refuses `scaleMetric` beside KEDA, so its HPA settings go."""
    predictor = isvc["spec"]["predictor"]
    name, namespace = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
    query = f'sum(vllm:num_requests_waiting{{namespace="{namespace}", pod=~"{name}-predictor-.*"}})'
    # KServe passes `value` to KEDA as the Prometheus trigger's threshold, which KEDA compares per
    # replica (its default metric type, AverageValue); KServe's webhook refuses any other target field.
    target = {"type": "Value", "value": str(spec.components.kserve.llm_waiting_target)}
    metric = {"backend": "prometheus", "serverAddress": OBSERVABILITY.url("prometheus"), "query": query}
    for knob in ("scaleMetric", "scaleTarget"):
        predictor.pop(knob)
    predictor["autoScaling"] = {"metrics": [{"type": "External", "external": {"metric": metric, "target": target}}]}
    isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] = "keda"
    return isvc


def smoke_llm_service(spec: Spec) -> list[dict[str, Any]]:
    """The InferenceService the smoke suite's LLM check talks to through the OpenAI API: vLLM on the
    first team's GPU pool, serving the chat model the suite publishes (smoke_llm_uri), scaled by KEDA."""
    kserve = spec.components.kserve
    team = spec.teams[0] if spec.teams else None
    pool = llm_pool(spec, team) if team else None
    if not (kserve.enabled and "vllm" in kserve.runtimes and has_models_bucket(spec) and team and pool):
        return []
    replicas = min(kserve.max_replicas, pool.max_gpu_slots)
    isvc = inference_service(spec, team, SMOKE_LLM, "huggingface", smoke_llm_uri(spec), pool, replicas)
    return [keda_autoscaling(spec, isvc) if autoscales_llms(spec) else isvc]


def kserve_values(spec: Spec) -> dict[str, Any]:
    return {
        "kserve": {
            "controller": {
                "deploymentMode": "Standard",
                "gateway": {
                    "ingressGateway": {
                        "enableGatewayApi": spec.components.kserve.gateway,
                        "kserveGateway": f"{NAMESPACE}/{GATEWAY}",
                    }
                },
            },
            "storage": {"s3": {"endpoint": STORAGE.address("object-store"), "useHttps": "0"}}
            if runs_in_cluster(spec)
            else {},
        }
    }


def predictor_monitors(spec: Spec, team: Team) -> list[dict[str, Any]]:
    """A PodMonitor per runtime in a team's namespace: Prometheus scrapes every predictor the runtime
    runs there (the serving dashboard reads these), at the runtime's metrics port."""
    if not spec.components.observability.enabled:
        return []
    return [
        k8s_object(
            "monitoring.coreos.com/v1",
            "PodMonitor",
            f"predictors-{runtime}",
            team.namespace_name,
            spec={
                "selector": {
                    "matchLabels": {RUNTIME_LABEL: runtime},
                    "matchExpressions": [{"key": PREDICTOR_LABEL, "operator": "Exists"}],
                },
                "podMetricsEndpoints": [{"portNumber": RUNTIME_METRICS_PORTS[runtime], "path": "/metrics"}],
            },
        )
        for runtime in spec.components.kserve.runtimes
        if runtime not in GPU_RUNTIMES or spec.gpu_pools
    ]


def kserve_objects(spec: Spec) -> list[dict[str, Any]]:
    if not spec.components.kserve.enabled:
        return []
    return [
        *gateway_objects(spec),
        *serving_runtimes(spec),
        *(model_service_account(spec, t) for t in spec.teams),
        *(monitor for t in spec.teams for monitor in predictor_monitors(spec, t)),
        *smoke_inference_service(spec),
        *smoke_llm_service(spec),
    ]


def predictors() -> dict[str, Any]:
    return {"matchExpressions": [{"key": PREDICTOR_LABEL, "operator": "Exists"}]}


def gateway_to_predictors(spec: Spec) -> list[dict[str, Any]]:
    """The Gateway's proxies reach predictor pods, only in namespaces labelled for the gateway."""
    if not gateway_enabled(spec):
        return []
    peer = {"namespaceSelector": matching({GATEWAY_ACCESS_LABEL: "true"}), "podSelector": predictors()}
    rule = {"to": [peer], "ports": tcp(PREDICTOR_PORT)}
    return [network_policy("allow-gateway-to-predictors", NAMESPACE, matching(PROXY_LABELS), egress=[rule])]


def from_gateway(ns: str) -> dict[str, Any]:
    """A team namespace labelled for the gateway admits the Gateway's proxies to its predictors."""
    rule = {"from": [in_namespace(NAMESPACE, matching(PROXY_LABELS))], "ports": tcp(PREDICTOR_PORT)}
    return network_policy("allow-from-gateway", ns, predictors(), ingress=[rule])


def envoy_gateway_values(spec: Spec) -> dict[str, Any]:
    """Helm keeps what a chart's hooks create out of the release, so uninstalling leaves it behind (the
    sim's `pulumi destroy` found three objects): the certificate Job's cluster RBAC is deleted once the
    Job succeeded, and the pods' zone-topology injector (a webhook cnai's proxies do not need) is off."""
    return {
        "certgen": {"rbac": {"annotations": {"helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}}},
        "topologyInjector": {"enabled": False},
    }


COMPONENT = Component(
    key="kserve",
    name="kserve",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.kserve.enabled,
    releases=(
        Release("envoy-gateway", "envoy-gateway", envoy_gateway_values),
        Release("kserve-crd", "crds"),
        Release("kserve", "controller", kserve_values),
    ),
    objects=kserve_objects,
    objects_resource="runtimes",
    # The platform's front door: clients outside the cluster reach it as well as teams.
    services=(
        Service("gateway", GATEWAY, proxy_container_ports(), PROXY_LABELS, from_anywhere=True, enabled=gateway_enabled),
    ),
    policies=gateway_to_predictors,
    wait_ready=True,
    after=("cert_manager", "keda"),  # its webhooks' certificates; KEDA's ScaledObject kind (LLM predictors)
    platform_client=True,
    api_client="KServe's controller and Envoy Gateway's",
    api_callbacks=(9443,),  # KServe's webhooks; Envoy Gateway's topology injector
    workloads=model_workloads,
    local_servers=("mlserver", "llm"),
    pulumi_type="KServe",
)
