"""Smoke jobs as Kubernetes Jobs: queued through a team's LocalQueue, placed on the pool they test.

A multi-node job becomes one Indexed Job whose pods Kueue admits together (a gang, with
waitForPodsReady): it never starts partially.
"""

from __future__ import annotations

import hashlib
from typing import Any

from modules.components.gpu_operator import deployed as gpu_operator_deployed
from modules.components.kueue import quota_ceiling
from modules.components.milvus import COMPONENT as VECTOR_DB
from modules.components.object_storage import COMPONENT as STORAGE
from modules.components.object_storage import TEAM_CREDENTIALS_SECRET, runs_in_cluster
from modules.components.objects import hardened_container_security, hardened_pod_security, k8s_object
from modules.components.observability import TRACES_ENDPOINT_ENV, otlp_url
from modules.spec import GpuPool, Spec, Team
from modules.spec.models import GPU_RESOURCE
from modules.versions import image

SMOKE_PRIORITY = "smoke"


def gpus_requested(pool: GpuPool | None) -> int:
    """A whole node's GPUs; one unit on a shared pool (a slice or share is what one pod gets)."""
    if pool is None:
        return 0
    return pool.gpus_per_node if pool.sharing.mode == "none" else 1


# Host resources per GPU unit: the jobs' work is on the GPU; the host holds PyTorch's CUDA context and
# the membw/allreduce buffers. Small enough that a one-GPU node (g5.xlarge: 3920m CPU, ~14.5 GiB
# allocatable after kubelet reservations) places it; the sim proves the fit on every pool's nodes.
CPU_PER_GPU = 1
MEMORY_GIB_PER_GPU = 6
# NCCL moves intra-node traffic through /dev/shm, which a container gets at 64 MiB: a memory-backed
# volume there for every job spanning several GPUs (counted in the job's memory limit).
SHM_GIB_PER_GPU = 1


def shared_memory(pool: GpuPool | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(volume, mount) of /dev/shm for a job on several GPUs of one node; None for one GPU or none."""
    gpus = gpus_requested(pool)
    if gpus < 2:
        return None
    volume = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{SHM_GIB_PER_GPU * gpus}Gi"}}
    return volume, {"name": "shm", "mountPath": "/dev/shm"}


def _container(job: str, args: list[str], pool: GpuPool | None) -> dict[str, Any]:
    gpus = gpus_requested(pool)
    resources = (
        {"cpu": str(CPU_PER_GPU * gpus), "memory": f"{MEMORY_GIB_PER_GPU * gpus}Gi"}
        if gpus
        else {"cpu": "1", "memory": "2Gi"}
    )
    limits = {**resources, **({GPU_RESOURCE: str(gpus)} if gpus else {})}
    return {
        "name": job,
        "image": image("cnai-smoke"),
        "imagePullPolicy": "Always",
        "command": ["python", "-m", f"smoke_tests.jobs.{job}", *args],
        "resources": {"requests": dict(limits), "limits": dict(limits)},
        "securityContext": hardened_container_security(),
        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}, *([shm[1]] if (shm := shared_memory(pool)) else [])],
    }


def smoke_job(
    spec: Spec, team: Team, job: str, args: list[str], pool: GpuPool | None = None, nodes: int = 1
) -> dict[str, Any]:
    """A smoke job for one team's queue; on a GPU pool it requests the pool's GPUs on `nodes` nodes."""
    if pool is not None and nodes > pool.max_nodes:
        raise ValueError(f"{job}: {nodes} nodes requested, pool {pool.name} has at most {pool.max_nodes}")
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": hardened_pod_security(),
        "containers": [_container(job, args, pool)],
        "volumes": [
            {"name": "scratch", "emptyDir": {"sizeLimit": "8Gi"}},
            *([shm[0]] if (shm := shared_memory(pool)) else []),
        ],
    }
    if traces := otlp_url(spec, "traces"):  # each job's span (smoke_tests/jobs/telemetry.py)
        pod_spec["containers"][0]["env"] = [{"name": TRACES_ENDPOINT_ENV, "value": traces}]
    if pool is not None:
        pod_spec["nodeSelector"] = pool.node_labels
        pod_spec["tolerations"] = pool.tolerations
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": 3600,
        "completions": nodes,
        "parallelism": nodes,
        "template": {"spec": pod_spec},
    }
    if nodes > 1:
        job_spec["completionMode"] = "Indexed"  # one gang: Kueue admits all pods or none
    manifest = k8s_object("batch/v1", "Job", f"cnai-smoke-{job}", team.namespace_name, spec=job_spec)
    manifest["metadata"]["labels"] |= {
        "kueue.x-k8s.io/queue-name": team.name,
        "kueue.x-k8s.io/priority-class": SMOKE_PRIORITY,
        "app.kubernetes.io/part-of": "cnai-smoke",
    }
    return manifest


SUITE_JOB = "cnai-smoke-suite"
SUITE_ENDPOINTS = "cnai-smoke-endpoints"
MLFLOW_CREDENTIALS_SECRET = "mlflow-credentials"  # a team's MLflow user, in its namespace


def _secret_env(variable: str, secret: str, optional: bool = False) -> dict[str, Any]:
    reference = {"name": secret, "key": variable} | ({"optional": True} if optional else {})
    return {"name": variable, "valueFrom": {"secretKeyRef": reference}}


def suite_credentials(spec: Spec) -> list[dict[str, Any]]:
    """The suite's credentials, from Secrets in its team's namespace: the team's S3 keys when the store
    runs in the cluster (a cloud store is reached with the team's workload identity instead), and the
    team's MLflow user where MLflow has basic auth (optional: the platform does not create MLflow users
    yet, and the checks then report MLflow's 401)."""
    env = []
    if runs_in_cluster(spec):
        env += [_secret_env(v, TEAM_CREDENTIALS_SECRET) for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
    if spec.components.mlflow.enabled and spec.components.mlflow.auth:
        env += [
            _secret_env(v, MLFLOW_CREDENTIALS_SECRET, optional=True)
            for v in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
        ]
    return env


S3_CREDENTIALS_DIR = "/etc/cnai/s3"


def with_team_s3_credentials(job: dict[str, Any]) -> None:
    """The team's S3 keys as a file (the AWS credentials file its Secret holds, read by boto3's own
    chain), never as environment variables a process listing or a crash dump would show."""
    pod = job["spec"]["template"]["spec"]
    secret = {"secretName": TEAM_CREDENTIALS_SECRET, "items": [{"key": "credentials", "path": "credentials"}]}
    pod["volumes"].append({"name": "s3-credentials", "secret": secret})
    container = pod["containers"][0]
    container["volumeMounts"].append({"name": "s3-credentials", "mountPath": S3_CREDENTIALS_DIR, "readOnly": True})
    container.setdefault("env", []).append(
        {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": f"{S3_CREDENTIALS_DIR}/credentials"}
    )


def checkpoint_store(spec: Spec) -> list[str]:
    """The ddp job's checkpoint store: the in-cluster store's models bucket, which a team may write with
    its own keys; nodes of a gang share no disk. None elsewhere (a team's cloud identity only reads)."""
    storage = spec.components.object_storage
    if not (runs_in_cluster(spec) and "models" in storage.buckets):
        return []
    return ["--s3-url", STORAGE.url("object-store"), "--bucket", spec.bucket("models")]


def rag_args(spec: Spec) -> list[str] | None:
    """The rag job's arguments on a cluster: the platform's Milvus, and the in-cluster store's datasets
    bucket, which a team may write with its own keys (elsewhere the passages come from the corpus file:
    a team's cloud identity only reads). None without a vector database."""
    if not spec.components.vector_db.enabled:
        return None
    args = ["--vector-db-uri", VECTOR_DB.url("milvus")]
    storage = spec.components.object_storage
    if runs_in_cluster(spec) and "datasets" in storage.buckets:
        args += ["--s3-url", STORAGE.url("object-store"), "--bucket", spec.bucket("datasets")]
    return args


JOBSET_API = "jobset.x-k8s.io/v1alpha2"
GANG_NODES = 2
GANG_WORKERS = "workers"  # the JobSet's one replicated Job
RENDEZVOUS_PORT = 29400  # torchrun's c10d default
# Set by the JobSet controller on every pod: the coordinator pod's stable DNS name (spec.coordinator), and
# the JobSet's uid, which names the run's checkpoints folder (a rerun never resumes an older run).
COORDINATOR_ANNOTATION = "jobset.sigs.k8s.io/coordinator"
JOBSET_UID_LABEL = "jobset.sigs.k8s.io/jobset-uid"


def gang_fits(spec: Spec, team: Team, pool: GpuPool) -> bool:
    """Whether the team's queue could ever admit the gang: its quota on the pool plus what it may borrow."""
    quota = next(q for q in team.gpu_quotas if q.pool == pool.name)
    return pool.max_nodes >= GANG_NODES and quota_ceiling(spec, quota) >= GANG_NODES * gpus_requested(pool)


def gang_name(pool: GpuPool) -> str:
    """The gang's JobSet name: the coordinator label JobSet sets, <name>-workers-0-0.<name>, is a label
    value (at most 63 characters), so a long pool name is replaced by its digest."""
    name = f"cnai-ddp-{pool.name}"
    if 2 * len(name) + len(f"-{GANG_WORKERS}-0-0.") > 63:
        name = f"cnai-ddp-{hashlib.sha256(pool.name.encode()).hexdigest()[:8]}"
    return name


def ddp_gang(spec: Spec, team: Team, pool: GpuPool) -> dict[str, Any]:
    """The ddp job as a multi-node gang: one JobSet of GANG_NODES pods (one Indexed Job), admitted by
    Kueue whole or not at all. Each pod's launcher meets the others at the coordinator pod (c10d
    rendezvous) and checkpoints to the in-cluster store, the one disk the nodes share."""
    name = gang_name(pool)
    args = [
        *("--nnodes", str(GANG_NODES), "--rdzv-endpoint", f"$(CNAI_COORDINATOR):{RENDEZVOUS_PORT}"),
        *("--run-id", "$(CNAI_RUN_ID)", *checkpoint_store(spec)),
    ]
    job = smoke_job(spec, team, "ddp", args, pool, nodes=GANG_NODES)
    with_team_s3_credentials(job)
    container = job["spec"]["template"]["spec"]["containers"][0]
    field = {"CNAI_COORDINATOR": f"metadata.annotations['{COORDINATOR_ANNOTATION}']"}
    field["CNAI_RUN_ID"] = f"metadata.labels['{JOBSET_UID_LABEL}']"
    container["env"] += [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": v}}} for k, v in field.items()]
    gang = {
        "network": {"enableDNSHostnames": True},
        "coordinator": {"replicatedJob": GANG_WORKERS},
        "replicatedJobs": [{"name": GANG_WORKERS, "replicas": 1, "template": {"spec": job["spec"]}}],
    }
    manifest = k8s_object(JOBSET_API, "JobSet", name, team.namespace_name, spec=gang)
    manifest["metadata"]["labels"] |= job["metadata"]["labels"]
    return manifest


def smoke_suite(spec: Spec, team: Team, endpoints_json: str) -> list[dict[str, Any]]:
    """The pytest suite as a Job in a team namespace (it reaches the platform as a team does), with the
    endpoints document from a ConfigMap; the report is the last line of its log."""
    config = k8s_object(
        "v1", "ConfigMap", SUITE_ENDPOINTS, team.namespace_name, data={"endpoints.json": endpoints_json}
    )
    args = ["--env", spec.name, "--endpoints", "/etc/cnai/endpoints.json"]
    job = smoke_job(spec, team, "suite", args)
    job["metadata"]["name"] = SUITE_JOB
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", "-m", "smoke_tests.runner", *args]
    if env := suite_credentials(spec):
        container.setdefault("env", []).extend(env)
    container["volumeMounts"].append({"name": "endpoints", "mountPath": "/etc/cnai", "readOnly": True})
    job["spec"]["template"]["spec"]["volumes"].append({"name": "endpoints", "configMap": {"name": SUITE_ENDPOINTS}})
    return [config, job]


def smoke_manifests(spec: Spec, endpoints_json: str) -> list[dict[str, Any]]:
    """What `cnai smoke ENV` applies: the suite in the first team's namespace (with the endpoints
    document) and, where the GPU Operator runs, every pool's GPU jobs."""
    suite = smoke_suite(spec, spec.teams[0], endpoints_json) if spec.teams else []
    return [*suite, *(smoke_jobs(spec) if gpu_operator_deployed(spec) else [])]


def smoke_jobs(spec: Spec) -> list[dict[str, Any]]:
    """The GPU jobs for every pool, queued through the first team with quota on it; the RAG flow once,
    on the first such pool (its embeddings are the GPU work); the ddp gang where the pool has the nodes,
    the team the quota and the platform a store the team writes."""
    jobs = []
    rag = rag_args(spec)
    for pool in spec.gpu_pools:
        team = next((t for t in spec.teams if any(q.pool == pool.name for q in t.gpu_quotas)), None)
        if team is None:
            continue  # no queue can admit work on this pool
        expected = ["--expected-accelerator", pool.accelerator, "--expected-count", str(gpus_requested(pool))]
        stages: list[tuple[str, list[str]]] = [("inventory", expected), ("correctness", [])]
        if pool.sharing.mode == "none":
            # Ratios to a whole GPU's peak mean nothing on a MIG slice or a time-share.
            stages += [("gemm", []), ("membw", []), ("allreduce", []), ("ddp", checkpoint_store(spec))]
        if rag is not None:
            stages.append(("rag", rag))
            rag = None
        for job, args in stages:
            manifest = smoke_job(spec, team, job, args, pool)
            manifest["metadata"]["name"] = f"cnai-smoke-{pool.name}-{job}"
            if "--s3-url" in args:
                with_team_s3_credentials(manifest)
            jobs.append(manifest)
        # Nodes of a gang share no disk: without a store the team writes, there is no gang.
        if pool.sharing.mode == "none" and checkpoint_store(spec) and gang_fits(spec, team, pool):
            jobs.append(ddp_gang(spec, team, pool))
    return jobs
