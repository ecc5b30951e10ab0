"""Smoke jobs as Kueue-queued Jobs: queue label, pool placement, GPU requests, non-root, gangs."""

from __future__ import annotations

import pytest

from modules.cluster.smoke import FOLLOWED
from modules.components.endpoints import cluster_endpoints
from modules.components.smoke_jobs import GANG_NODES, GANG_WORKERS, gang_name, smoke_job, smoke_jobs, smoke_manifests
from tests import specs
from tests.components.validation import validation_errors
from tests.specs import stand_in_spec


def test_jobs_target_their_pool_through_the_team_queue():
    spec = stand_in_spec("prod")
    jobs = {j["metadata"]["name"]: j for j in smoke_jobs(spec)}
    gemm = jobs["cnai-smoke-h100-train-gemm"]
    labels = gemm["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "research"
    assert labels["kueue.x-k8s.io/priority-class"] == "smoke"
    pod = gemm["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == spec.pool("h100-train").node_labels
    assert pod["tolerations"] == spec.pool("h100-train").tolerations
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert (
        pod["securityContext"]["runAsNonRoot"]
        and not pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    )


def test_shared_pools_get_one_unit_and_no_peak_ratios():
    jobs = {j["metadata"]["name"] for j in smoke_jobs(stand_in_spec("prod"))}
    assert {"cnai-smoke-a100-mig-inventory", "cnai-smoke-a100-mig-correctness"} <= jobs
    assert "cnai-smoke-a100-mig-gemm" not in jobs
    [inventory] = [j for j in smoke_jobs(stand_in_spec("dev")) if j["metadata"]["name"].endswith("inventory")]
    assert inventory["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_multi_node_job_is_one_indexed_gang():
    spec = stand_in_spec("prod")
    job = smoke_job(spec, spec.teams[0], "allreduce", [], spec.pool("h100-train"), nodes=4)
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 4
    assert validation_errors(job) == []


def test_a_gang_larger_than_the_pool_is_refused():
    spec = stand_in_spec("prod")
    with pytest.raises(ValueError, match="at most 4"):
        smoke_job(spec, spec.teams[0], "allreduce", [], spec.pool("h100-train"), nodes=5)


def test_multi_gpu_jobs_get_a_shared_memory_volume_for_nccl():
    """docs/troubleshooting.md: NCCL needs more /dev/shm than a container's 64 MiB across GPUs of a node."""
    jobs = {j["metadata"]["name"]: j for j in smoke_jobs(stand_in_spec("prod"))}
    pod = jobs["cnai-smoke-h100-train-allreduce"]["spec"]["template"]["spec"]
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "shm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]
    one_unit = jobs["cnai-smoke-a100-mig-inventory"]["spec"]["template"]["spec"]
    assert all(v["name"] != "shm" for v in one_unit["volumes"])


def test_the_ddp_job_checkpoints_to_the_in_cluster_store_with_its_teams_keys():
    """Nodes of a gang share no disk: the ddp job writes its checkpoints to the models bucket, with the
    keys of the team whose queue runs it, as a file; a cloud store (read-only team identity) gets no store."""
    spec = stand_in_spec("onprem")
    [ddp] = [j for j in smoke_jobs(spec) if j["metadata"]["name"].endswith("-ddp")][:1]
    container = ddp["spec"]["template"]["spec"]["containers"][0]
    args = container["command"][3:]
    assert args[args.index("--s3-url") + 1] == "http://seaweedfs-s3.cnai-storage.svc:8333"
    assert args[args.index("--bucket") + 1] == spec.bucket("models")
    # The keys as a file from the team's Secret, read by boto3's own chain; no secret in an env variable.
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == {
        "name": "AWS_SHARED_CREDENTIALS_FILE",
        "value": "/etc/cnai/s3/credentials",
    }
    assert not any("valueFrom" in e or "SECRET" in e["name"] for e in container["env"])
    [volume] = [v for v in ddp["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "s3-credentials"
    assert {"name": volume["name"], "mountPath": "/etc/cnai/s3", "readOnly": True} in container["volumeMounts"]
    cloud = [j for j in smoke_jobs(stand_in_spec("prod")) if j["metadata"]["name"].endswith("-ddp")]
    assert cloud and all("--s3-url" not in j["spec"]["template"]["spec"]["containers"][0]["command"] for j in cloud)


def test_rag_runs_once_as_a_job_on_the_first_queued_gpu_pool():
    onprem = stand_in_spec("onprem")
    rag = [j for j in smoke_jobs(onprem) if j["metadata"]["name"].endswith("-rag")]
    assert [j["metadata"]["name"] for j in rag] == [f"cnai-smoke-{onprem.gpu_pools[0].name}-rag"]
    pod = rag[0]["spec"]["template"]["spec"]
    args = pod["containers"][0]["command"]
    assert args[:3] == ["python", "-m", "smoke_tests.jobs.rag"] and "--vector-db-uri" in args
    # The in-cluster store's datasets bucket, written with the team's keys from a file.
    assert args[args.index("--bucket") + 1] == "datasets"
    assert "AWS_SHARED_CREDENTIALS_FILE" in {e["name"] for e in pod["containers"][0]["env"]}
    cloud = [j for j in smoke_jobs(stand_in_spec("prod")) if j["metadata"]["name"].endswith("-rag")]
    assert "--s3-url" not in cloud[0]["spec"]["template"]["spec"]["containers"][0]["command"]  # reads only


def test_no_rag_job_without_a_vector_database():
    document = specs.onprem_like()
    document["components"]["vector_db"] = {"enabled": False}
    assert not [j for j in smoke_jobs(specs.spec(document)) if j["metadata"]["name"].endswith("-rag")]


def test_every_smoke_job_sends_its_span_to_the_collector_where_it_takes_traces():
    """Each job's span (smoke_tests/jobs/telemetry.py) goes where the endpoints document says traces go."""
    spec = stand_in_spec("onprem")
    expected = {"name": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "value": cluster_endpoints(spec).otlp_traces_url}
    manifests = [m for m in smoke_manifests(spec, "{}") if m["kind"] in FOLLOWED]
    assert {m["kind"] for m in manifests} == {"Job", "JobSet"}
    assert all(expected in FOLLOWED[m["kind"]].pod_spec(m)["containers"][0]["env"] for m in manifests)
    document = specs.stand_in("onprem")
    document["components"]["mlflow"]["otlp_traces"] = False
    untraced = [FOLLOWED[m["kind"]].pod_spec(m)["containers"][0] for m in smoke_jobs(specs.spec(document))]
    names = {e["name"] for container in untraced for e in container.get("env", [])}
    assert untraced and "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in names


def test_the_ddp_gang_is_one_jobset_whose_pods_meet_at_the_coordinator():
    """onprem: the l40s pool has two nodes, its team may borrow the second, the store runs in the cluster."""
    spec = stand_in_spec("onprem")
    [gang] = [j for j in smoke_jobs(spec) if j["kind"] == "JobSet"]
    assert gang["metadata"]["name"] == "cnai-ddp-l40s"
    assert gang["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "research"
    assert gang["spec"]["coordinator"] == {"replicatedJob": GANG_WORKERS}
    [workers] = gang["spec"]["replicatedJobs"]
    job = workers["template"]["spec"]
    assert (workers["replicas"], job["completions"], job["parallelism"]) == (1, GANG_NODES, GANG_NODES)
    assert job["completionMode"] == "Indexed"
    container = job["template"]["spec"]["containers"][0]
    args = container["command"][3:]
    assert args[args.index("--nnodes") + 1] == str(GANG_NODES)
    assert args[args.index("--rdzv-endpoint") + 1] == "$(CNAI_COORDINATOR):29400"
    assert args[args.index("--s3-url") + 1] == "http://seaweedfs-s3.cnai-storage.svc:8333"
    fields = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
    assert fields == {
        "CNAI_COORDINATOR": "metadata.annotations['jobset.sigs.k8s.io/coordinator']",
        "CNAI_RUN_ID": "metadata.labels['jobset.sigs.k8s.io/jobset-uid']",
    }


def test_no_gang_without_a_store_the_team_writes_or_room_for_two_nodes():
    assert not [j for j in smoke_jobs(stand_in_spec("prod")) if j["kind"] == "JobSet"], "prod's store is GCS"
    document = specs.stand_in("onprem")
    for team in document["teams"]:
        for quota in team["gpu_quotas"]:
            if quota["pool"] == "l40s":
                quota["borrowing_limit"] = 0  # the team can never hold both nodes
    assert not [j for j in smoke_jobs(specs.spec(document)) if j["kind"] == "JobSet"]


def test_the_ddp_gang_is_valid_against_the_jobset_crd():
    [gang] = [j for j in smoke_jobs(stand_in_spec("onprem")) if j["kind"] == "JobSet"]
    assert validation_errors(gang) == []


def test_a_long_pool_name_still_gives_a_coordinator_label_kubernetes_takes():
    """JobSet's webhook refuses a JobSet whose coordinator label would pass 63 characters (the sim's real
    webhook found the first name cnai gave it too long)."""
    spec = stand_in_spec("onprem")
    for pool_name in ("l40s", "a-pool-name-of-thirty-chars-xx"):
        pool = spec.pool("l40s").model_copy(update={"name": pool_name})
        name = gang_name(pool)
        assert len(f"{name}-{GANG_WORKERS}-0-0.{name}") <= 63
    assert gang_name(pool) != gang_name(spec.pool("l40s"))
