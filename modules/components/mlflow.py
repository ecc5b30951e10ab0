"""MLflow in the cluster: PostgreSQL through CloudNativePG (backed up to object storage), the
tracking server + registry with basic auth, artifacts proxied to object storage, OTLP traces, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules.components import mlflow_users
from modules.components.identities import Workload, buckets_of, cloud_store, service_account_annotations
from modules.components.object_storage import COMPONENT as STORAGE
from modules.components.object_storage import runs_in_cluster
from modules.components.objects import annotate, hardened_container_security, hardened_pod_security, k8s_object
from modules.components.registry import Component, Release, Service
from modules.spec import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES
from modules.versions import image

NAMESPACE = PLATFORM_NAMESPACES["mlflow"]
SERVICE_ACCOUNT = "mlflow"
DB_CLUSTER = "mlflow-db"  # CloudNativePG names the cluster's service account after the cluster
S3_SECRET = "mlflow-s3"
AUTH_SECRET = "mlflow-auth"
PORT = 5000
ARTIFACT_BUCKET = "mlflow-artifacts"
SELECTOR = {"app.kubernetes.io/name": "mlflow"}


def mlflow_workloads(spec: Spec) -> list[Workload]:
    """The tracking server and the database's backups write the artifact bucket of a cloud store."""
    if not (spec.components.mlflow.enabled and cloud_store(spec)):
        return []
    buckets = buckets_of(spec, ARTIFACT_BUCKET)
    return [
        Workload("mlflow", NAMESPACE, SERVICE_ACCOUNT, buckets, writes=True),
        Workload("mlflow-db", NAMESPACE, DB_CLUSTER, buckets, writes=True),
    ]


def _s3_endpoint(spec: Spec) -> str | None:
    return STORAGE.url("object-store") if runs_in_cluster(spec) else None


def postgres_cluster(spec: Spec) -> dict[str, Any]:
    """A CloudNativePG Cluster; base backups and WAL go to the artifact bucket."""
    store: dict[str, Any] = {"destinationPath": f"s3://{spec.bucket(ARTIFACT_BUCKET)}/cnpg/{spec.name}"}
    if runs_in_cluster(spec):
        key = {"name": S3_SECRET}
        store |= {
            "endpointURL": _s3_endpoint(spec),
            "s3Credentials": {
                "accessKeyId": key | {"key": "AWS_ACCESS_KEY_ID"},
                "secretAccessKey": key | {"key": "AWS_SECRET_ACCESS_KEY"},
            },
        }
    elif spec.components.object_storage.provider == "s3":
        store["s3Credentials"] = {"inheritFromIAMRole": True}
    else:
        store |= {
            "destinationPath": f"gs://{spec.bucket(ARTIFACT_BUCKET)}/cnpg/{spec.name}",
            "googleCredentials": {"gkeEnvironment": True},
        }
    return k8s_object(
        "postgresql.cnpg.io/v1",
        "Cluster",
        DB_CLUSTER,
        NAMESPACE,
        spec={
            "instances": 3 if spec.cluster.protect else 1,
            "imageName": image("postgres"),
            "storage": {"size": "20Gi"},
            "bootstrap": {"initdb": {"database": "mlflow", "owner": "mlflow"}},
            "backup": {"barmanObjectStore": store, "retentionPolicy": "30d"},
            "monitoring": {"enablePodMonitor": spec.components.observability.enabled},
            **_db_service_account_template(spec),
        },
    )


def _db_service_account_template(spec: Spec) -> dict[str, Any]:
    annotations = service_account_annotations(spec, mlflow_workloads(spec), DB_CLUSTER)
    return {"serviceAccountTemplate": {"metadata": {"annotations": annotations}}} if annotations else {}


def server_service_account(spec: Spec) -> dict[str, Any]:
    """Its own identity: on a cloud store, the one IAM lets write the artifact bucket."""
    account = k8s_object("v1", "ServiceAccount", SERVICE_ACCOUNT, NAMESPACE, automountServiceAccountToken=False)
    return annotate(account, service_account_annotations(spec, mlflow_workloads(spec), "mlflow"))


def _artifact_destination(spec: Spec) -> str:
    """GCS through its own client: GKE workload identity grants no S3-interoperability (HMAC) keys."""
    scheme = "gs" if spec.components.object_storage.provider == "gcs" else "s3"
    return f"{scheme}://{spec.bucket(ARTIFACT_BUCKET)}/"


USERS_SECRET = "mlflow-users"  # platform clients' MLflow passwords, one file per user
USERS_SCRIPT = "mlflow-users-script"
USERS_SCRIPT_SOURCE = Path(mlflow_users.__file__)


def collector_user(spec: Spec) -> bool:
    """Whether MLflow needs a user for the OpenTelemetry Collector: it takes the collector's traces and
    guards them with basic auth."""
    mlflow, observability = spec.components.mlflow, spec.components.observability
    return mlflow.enabled and mlflow.otlp_traces and mlflow.auth and observability.enabled


def users_script() -> dict[str, Any]:
    """The provisioning script as a ConfigMap (it is code, not configuration of a secret)."""
    return k8s_object(
        "v1", "ConfigMap", USERS_SCRIPT, NAMESPACE, data={USERS_SCRIPT_SOURCE.name: USERS_SCRIPT_SOURCE.read_text()}
    )


def users_secret(passwords: dict[str, Any]) -> dict[str, Any]:
    return k8s_object("v1", "Secret", USERS_SECRET, NAMESPACE, type="Opaque", stringData=passwords)


def _container(spec: Spec) -> dict[str, Any]:
    server = (
        f"exec mlflow server --host 0.0.0.0 --port {PORT} --workers 2"
        ' --backend-store-uri "$(cat /etc/mlflow-db/uri)"'
        f" --artifacts-destination {_artifact_destination(spec)} --serve-artifacts --expose-prometheus /tmp/metrics"
    )
    if spec.components.mlflow.auth:
        server += " --app-name basic-auth"
    if collector_user(spec):
        server = f"python /etc/{USERS_SCRIPT}/{USERS_SCRIPT_SOURCE.name} /etc/{USERS_SECRET} && {server}"
    env = [
        {"name": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "value": "false"},
        {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": "/etc/mlflow-auth/basic_auth.ini"},
    ]
    mounts = [
        {"name": "db", "mountPath": "/etc/mlflow-db", "readOnly": True},
        {"name": "auth", "mountPath": "/etc/mlflow-auth", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if collector_user(spec):
        mounts += [
            {"name": "users", "mountPath": f"/etc/{USERS_SECRET}", "readOnly": True},
            {"name": "users-script", "mountPath": f"/etc/{USERS_SCRIPT}", "readOnly": True},
        ]
    if endpoint := _s3_endpoint(spec):
        # The in-cluster store's keys, as a file; a cloud store is reached with the workload identity.
        env += [
            {"name": "MLFLOW_S3_ENDPOINT_URL", "value": endpoint},
            {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/etc/mlflow-s3/credentials"},
        ]
        mounts.insert(1, {"name": "s3", "mountPath": "/etc/mlflow-s3", "readOnly": True})
    probe = {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 10}
    return {
        "name": "mlflow",
        "image": image("cnai-mlflow"),  # the core image lacks the drivers and exporters below
        "imagePullPolicy": "Always",
        "command": ["sh", "-c", server],
        "env": env,
        "ports": [{"name": "http", "containerPort": PORT}],
        "livenessProbe": probe | {"initialDelaySeconds": 30},
        "readinessProbe": probe,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        "securityContext": hardened_container_security(),
        "volumeMounts": mounts,
    }


def mlflow_server_objects(spec: Spec) -> list[dict[str, Any]]:
    """Deployment, Service and ServiceMonitor of the tracking server (secrets are made by the component)."""
    if not spec.components.mlflow.enabled:
        return []
    volumes = [
        {"name": "db", "secret": {"secretName": f"{DB_CLUSTER}-app", "items": [{"key": "uri", "path": "uri"}]}},
        {"name": "auth", "secret": {"secretName": AUTH_SECRET}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
    ]
    if collector_user(spec):
        volumes += [
            {"name": "users", "secret": {"secretName": USERS_SECRET}},
            {"name": "users-script", "configMap": {"name": USERS_SCRIPT}},
        ]
    if runs_in_cluster(spec):  # the Secret exists only then (MlflowArgs.storage_identity)
        s3 = {"secretName": S3_SECRET, "items": [{"key": "credentials", "path": "credentials"}]}
        volumes.insert(1, {"name": "s3", "secret": s3})
    pod = {
        "metadata": {"labels": SELECTOR},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "securityContext": hardened_pod_security(),
            "containers": [_container(spec)],
            "volumes": volumes,
        },
    }
    replicas = 2 if spec.cluster.protect else 1
    deployment = k8s_object(
        "apps/v1",
        "Deployment",
        "mlflow",
        NAMESPACE,
        spec={"replicas": replicas, "selector": {"matchLabels": SELECTOR}, "template": pod},
    )
    service = k8s_object(
        "v1",
        "Service",
        COMPONENT.service("mlflow").name,
        NAMESPACE,
        spec={"selector": SELECTOR, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    )
    objects = [postgres_cluster(spec), server_service_account(spec), deployment, service]
    if collector_user(spec):
        objects.append(users_script())
    if spec.components.observability.enabled:
        objects.append(
            k8s_object(
                "monitoring.coreos.com/v1",
                "ServiceMonitor",
                "mlflow",
                NAMESPACE,
                spec={"selector": {"matchLabels": SELECTOR}, "endpoints": [{"port": "http", "path": "/metrics"}]},
            )
        )
        service["metadata"]["labels"] |= SELECTOR
    return objects


COMPONENT = Component(
    key="mlflow",
    name="mlflow",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.mlflow.enabled,
    releases=(Release("cloudnative-pg", "cnpg"),),
    objects=mlflow_server_objects,
    services=(Service("mlflow", "mlflow", (PORT,), SELECTOR),),
    wait_ready=True,
    after=("object_storage",),  # the in-cluster store's adapter makes the keys MLflow's Secret holds
    calls=("object-store",),  # artifacts; CloudNativePG's base backups and WAL
    platform_client=True,
    api_client="CloudNativePG's operator and instance managers",
    api_callbacks=(9443,),  # CloudNativePG's webhooks
    workloads=mlflow_workloads,
    local_servers=("mlflow",),
    pulumi_type="Mlflow",
)
