"""The environment spec: one typed, validated document per environment (pydantic v2).

Structure lives here; rules that relate fields to each other (a team's quota against its pool, a
component against the ones it needs) live in `checks.py`, so every problem gets its own field path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modules.spec.accelerators import ACCELERATORS, Accelerator

NAME_PATTERN = r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="DNS label, at most 32 chars")]
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]$")]
Port = Annotated[int, Field(ge=1024, le=65535)]

ClusterTarget = Literal["local", "kind", "existing", "eks", "gke"]
CLUSTER_TARGETS: tuple[str, ...] = ClusterTarget.__args__  # type: ignore[attr-defined]
CLOUD_TARGETS = ("eks", "gke")  # targets whose cluster the cloud stack (modules/cloud) creates

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
POOL_LABEL = "cnai.io/gpu-pool"
GPU_RESOURCE = "nvidia.com/gpu"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(StrictModel):
    """A credential reference; plaintext is refused. Exactly one of the three ways is set."""

    secure: str | None = Field(None, description="Pulumi-encrypted value (`pulumi config set --secret`)")
    env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="env var read at deploy time")
    generate: bool = Field(False, description="generated once per install, stored with 0600 permissions")

    @model_validator(mode="before")
    @classmethod
    def refuse_plaintext(cls, data: Any) -> Any:
        if isinstance(data, str) and not data.strip():
            raise ValueError("empty credential: use {generate: true}, {env: VAR_NAME} or secure: ...")
        if isinstance(data, str | int | float):
            raise ValueError(
                "plaintext credentials are not allowed: use `pulumi config set --secret` "
                "(secure: ...), {env: VAR_NAME} or {generate: true}"
            )
        return data

    @field_validator("secure")
    @classmethod
    def not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty secret value: set it with `pulumi config set --secret`")
        return value

    @model_validator(mode="after")
    def exactly_one_source(self) -> Secret:
        chosen = [self.secure is not None, self.env is not None, self.generate]
        if sum(chosen) != 1:
            raise ValueError("set exactly one of: secure, env, generate")
        return self


class StateBackend(StrictModel):
    """Where OpenTofu keeps the cloud stack's state (eks, gke); locking is on for s3 and gcs."""

    backend: Literal["local", "s3", "gcs"] = Field("local", description="local file (tests, trials), S3 or GCS")
    bucket: BucketName | None = Field(None, description="state bucket (s3, gcs), created once by hand")
    region: str | None = Field(None, description="state bucket region (s3; defaults to cluster.region)")


class Cluster(StrictModel):
    """Where the platform runs."""

    target: ClusterTarget = Field("local", description="local processes, a kind cluster, any cluster, or a cloud")
    region: str | None = Field(None, description="cloud region (eks, gke)")
    project: str | None = Field(
        None, pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", description="Google Cloud project id (gke)"
    )
    state: StateBackend = Field(default_factory=StateBackend)
    api_access_cidrs: list[Annotated[str, Field(pattern=r"^[0-9.]+/[0-9]{1,2}$")]] = Field(
        default_factory=list,
        description="eks/gke: IPv4 CIDRs that may reach the public API endpoint (empty: private only)",
    )
    allow_public_api: bool = Field(
        False,
        description="allow api_access_cidrs wider than /8 (0.0.0.0/0: the whole internet); off: refused",
    )
    zones: list[str] = Field(default_factory=list, description="zones for node pools (eks >= 2)")
    kube_context: str | None = Field(None, description="kubeconfig context (existing, kind)")
    protect: bool = Field(False, description="`cnai down` refuses without an explicit override")


class Sharing(StrictModel):
    """How one physical GPU is shared: not at all, by time-slicing, or by MIG partitions."""

    mode: Literal["none", "time-slicing", "mig"] = "none"
    replicas: int | None = Field(None, ge=2, le=64, description="time-slicing: shares per GPU")
    mig_profile: str | None = Field(None, description="mig: profile for every GPU, e.g. 1g.10gb")


class NodeHost(StrictModel):
    """A bare-metal GPU node (target existing): prepared by the Ansible roles in modules/nodes."""

    name: Name = Field(description="inventory hostname (also the Kubernetes node name)")
    address: str = Field(
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9.:]*$", description="IP address or DNS name Ansible connects to"
    )
    user: str | None = Field(None, pattern=r"^[a-z_][-a-z0-9_]*$", description="SSH user (default: Ansible's)")


class GpuPool(StrictModel):
    """A GPU node pool, declared once; node pools, flavors, sharing and smoke jobs derive from it."""

    name: Name = Field(description="pool name (node label cnai.io/gpu-pool)")
    accelerator: str = Field(description="key of the accelerator registry, e.g. nvidia-h100-80gb")
    gpus_per_node: int = Field(1, ge=1, le=16, description="physical GPUs per node")
    min_nodes: int = Field(0, ge=0, le=1000, description="autoscaling lower bound")
    max_nodes: int = Field(1, ge=1, le=1000, description="autoscaling upper bound")
    spot: bool = Field(False, description="spot / preemptible capacity")
    sharing: Sharing = Field(default_factory=Sharing)
    hosts: list[NodeHost] = Field(
        default_factory=list, description="existing: the bare-metal nodes of this pool (`cnai nodes inventory`)"
    )

    @property
    def facts(self) -> Accelerator:
        return ACCELERATORS[self.accelerator]

    @property
    def slots_per_gpu(self) -> int:
        """Schedulable `nvidia.com/gpu` units one physical GPU becomes."""
        if self.sharing.mode == "time-slicing" and self.sharing.replicas:
            return self.sharing.replicas
        if self.sharing.mode == "mig" and self.sharing.mig_profile in self.facts.mig_profiles:
            return self.facts.mig_slices(self.sharing.mig_profile)
        return 1

    @property
    def max_gpu_slots(self) -> int:
        return self.max_nodes * self.gpus_per_node * self.slots_per_gpu

    @property
    def node_labels(self) -> dict[str, str]:
        """Labels every node of the pool carries; the sharing labels select GPU Operator configs."""
        labels = {POOL_LABEL: self.name, "nvidia.com/gpu.present": "true"}
        if self.sharing.mode == "time-slicing":
            labels[DEVICE_PLUGIN_CONFIG_LABEL] = self.name
        if self.sharing.mode == "mig" and self.sharing.mig_profile:
            labels[MIG_CONFIG_LABEL] = f"all-{self.sharing.mig_profile}"
        return labels

    @property
    def taints(self) -> list[dict[str, str]]:
        return [dict(GPU_TAINT)]

    @property
    def tolerations(self) -> list[dict[str, str]]:
        return [{"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]} for t in self.taints]


class GpuQuota(StrictModel):
    """A team's nominal quota on one GPU pool, in schedulable GPU units (shares / MIG slices)."""

    pool: Name
    gpus: int = Field(ge=0, le=100000)
    borrowing_limit: int | None = Field(None, ge=0, description="unset: may borrow all idle capacity")


class Team(StrictModel):
    """A tenant: a namespace with its own Kueue LocalQueue and ClusterQueue."""

    name: Name
    namespace: Name | None = Field(None, description="defaults to team-<name>")
    cpu: int = Field(8, ge=1, le=100000, description="CPU cores quota")
    memory_gib: int = Field(32, ge=1, le=1000000, description="memory quota, GiB")
    gpu_quotas: list[GpuQuota] = Field(default_factory=list)

    @property
    def namespace_name(self) -> str:
        return self.namespace or f"team-{self.name}"


class Component(StrictModel):
    enabled: bool = True


class GpuOperator(Component):
    """NVIDIA GPU Operator."""

    driver: Literal["operator", "preinstalled"] = Field(
        "operator", description="operator-installed driver, or the node image's (EKS AL2023, GKE COS)"
    )
    toolkit: Literal["operator", "preinstalled"] = Field(
        "operator",
        description="operator-installed NVIDIA container toolkit, or the node's (bare metal: modules/nodes); "
        "on eks and gke the target decides (modules/spec/gpu_functions.py)",
    )
    dcgm_exporter: bool = True
    mig_strategy: Literal["single", "mixed"] = "single"


class CertManager(Component):
    """cert-manager (KServe's webhooks need it)."""


class Kueue(Component):
    """Kueue batch admission."""

    wait_for_pods_ready: bool = Field(True, description="all-or-nothing admission of gangs")
    pods_ready_timeout_seconds: int = Field(300, ge=30, le=86400)
    fair_sharing: bool = True
    cohort: Name = "cnai"
    preemption_within_queue: Literal["Never", "LowerPriority", "LowerOrNewerEqualPriority"] = "LowerPriority"
    reclaim_within_cohort: Literal["Never", "LowerPriority", "Any"] = "Any"


class KServe(Component):
    """KServe model serving, Standard (RawDeployment) mode."""

    deployment_mode: Literal["Standard"] = "Standard"
    gateway: bool = Field(True, description="expose through Gateway API (Envoy Gateway)")
    runtimes: list[Literal["mlserver", "vllm"]] = Field(default_factory=lambda: ["mlserver", "vllm"])
    min_replicas: int = Field(1, ge=0, le=100)
    max_replicas: int = Field(3, ge=1, le=1000)
    scale_metric: Literal["cpu", "memory", "concurrency", "rps"] = "cpu"
    scale_target: int = Field(70, ge=1, le=10000)
    llm_waiting_target: int = Field(
        4,
        ge=1,
        le=1000,
        description="LLM predictors (vLLM) scale on requests waiting, per replica, through KEDA and Prometheus",
    )


class Mlflow(Component):
    """MLflow tracking server and model registry."""

    backend: Literal["sqlite", "postgresql"] = "postgresql"
    database_url: Secret | None = Field(None, description="external PostgreSQL URL (local, cloud DB)")
    auth: bool = Field(True, description="basic auth on the tracking server")
    admin_password: Secret | None = None
    otlp_traces: bool = True


class Observability(Component):
    """Prometheus (+ Alertmanager, Grafana) and the OpenTelemetry Collector."""

    retention: str = Field("15d", pattern=r"^[1-9][0-9]*[hdw]$")
    grafana: bool = True
    grafana_admin_password: Secret | None = None
    otel_collector: bool = Field(
        True, description="the OpenTelemetry Collector (OTLP in; traces to MLflow, metrics to Prometheus), locally too"
    )


class VectorDb(Component):
    """Milvus (Milvus Lite in the local environment)."""

    engine: Literal["milvus"] = "milvus"
    mode: Literal["standalone", "cluster"] = "standalone"


class ObjectStorage(Component):
    """S3-compatible object storage: SeaweedFS, or the cloud's S3 / GCS."""

    provider: Literal["seaweedfs", "s3", "gcs"] = "seaweedfs"
    buckets: list[BucketName] = Field(default_factory=lambda: ["mlflow-artifacts", "models", "datasets"])
    bucket_prefix: Name | None = Field(
        None, description="s3/gcs: buckets are named <prefix>-<bucket> (bucket names are global: use your org)"
    )
    credentials: Secret | None = Field(None, description="S3 access keys (seaweedfs)")


class Components(StrictModel):
    gpu_operator: GpuOperator = Field(default_factory=GpuOperator)
    cert_manager: CertManager = Field(default_factory=CertManager)
    kueue: Kueue = Field(default_factory=Kueue)
    kserve: KServe = Field(default_factory=KServe)
    mlflow: Mlflow = Field(default_factory=Mlflow)
    observability: Observability = Field(default_factory=Observability)
    vector_db: VectorDb = Field(default_factory=VectorDb)
    object_storage: ObjectStorage = Field(default_factory=ObjectStorage)


class LocalPorts(StrictModel):
    """Loopback ports of the local environment."""

    object_storage: Port = 8333
    seaweedfs_master: Port = 9333
    seaweedfs_volume: Port = 8380
    seaweedfs_filer: Port = 8888
    seaweedfs_metrics: Port = 9327
    seaweedfs_admin: Port = 23646
    mlflow: Port = 5000
    model_server: Port = 8085
    model_server_grpc: Port = 8086
    model_server_metrics: Port = 8087
    llm_server: Port = 8088
    vector_db: Port = 19530
    prometheus: Port = 9090
    otlp_grpc: Port = 4317
    otlp_http: Port = 4318
    otel_collector_metrics: Port = 8889
    otel_collector_health: Port = 13133


class Local(StrictModel):
    """Settings of the local runtime (cluster.target: local)."""

    ports: LocalPorts = Field(default_factory=LocalPorts)
    ready_timeout_seconds: int = Field(90, ge=5, le=3600)


class Spec(StrictModel):
    """One environment: a blueprint's settings merged with the environment's overrides."""

    name: Name = Field(description="environment name (from the stack file name)")
    blueprint: Name = Field(description="blueprints/<name>.yaml this environment starts from")
    description: str = ""
    cluster: Cluster = Field(default_factory=Cluster)
    gpu_pools: list[GpuPool] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    components: Components = Field(default_factory=Components)
    local: Local = Field(default_factory=Local)

    def pool(self, name: str) -> GpuPool:
        return next(p for p in self.gpu_pools if p.name == name)

    @property
    def is_cluster(self) -> bool:
        return self.cluster.target != "local"

    @property
    def cluster_name(self) -> str:
        """The cloud cluster's name, and the prefix of everything named after it (roles, queues, tags)."""
        return f"cnai-{self.name}"

    def bucket(self, logical: str) -> str:
        """The real name of one of components.object_storage.buckets (cloud names are global, so prefixed)."""
        storage = self.components.object_storage
        cloud = storage.provider in ("s3", "gcs") and storage.bucket_prefix
        return f"{storage.bucket_prefix}-{logical}" if cloud else logical
