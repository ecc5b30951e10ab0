"""Every kind of mistake gets one error naming its field path, the bad value and what is allowed."""

from __future__ import annotations

import pytest

from modules.spec import SpecInvalid, validate
from tests.conftest import env_document


def errors_of(document) -> dict[str, str]:
    with pytest.raises(SpecInvalid) as info:
        validate("t", document)
    return {e.path: str(e) for e in info.value.errors}


def test_unknown_accelerator(prod_doc):
    prod_doc["gpu_pools"][0]["accelerator"] = "nvidia-h900"
    errors = errors_of(prod_doc)
    assert "gpu_pools[0].accelerator" in errors
    assert "nvidia-h900" in errors["gpu_pools[0].accelerator"]
    assert "nvidia-h100-80gb" in errors["gpu_pools[0].accelerator"], "must list what is allowed"


def test_mig_profile_on_gpu_without_mig(prod_doc):
    prod_doc["gpu_pools"][1]["accelerator"] = "nvidia-l4"
    prod_doc["cluster"]["target"] = "gke"
    errors = errors_of(prod_doc)
    assert "does not support MIG" in errors["gpu_pools[1].sharing.mig_profile"]


def test_mig_profile_not_offered_by_the_gpu(prod_doc):
    prod_doc["gpu_pools"][1]["sharing"]["mig_profile"] = "1g.18gb"
    assert "allowed for nvidia-a100-80gb" in errors_of(prod_doc)["gpu_pools[1].sharing.mig_profile"]


def test_team_quota_larger_than_pool(prod_doc):
    prod_doc["teams"][0]["gpu_quotas"][0]["gpus"] = 33  # h100-train: 4 nodes x 8 GPUs
    message = errors_of(prod_doc)["teams[0].gpu_quotas[0].gpus"]
    assert "at most 32" in message and "33" in message


def test_team_references_missing_pool(prod_doc):
    prod_doc["teams"][1]["gpu_quotas"][0]["pool"] = "b200-train"
    message = errors_of(prod_doc)["teams[1].gpu_quotas[0].pool"]
    assert "no such GPU pool" in message and "a100-mig" in message


def test_min_nodes_above_max(prod_doc):
    prod_doc["gpu_pools"][0]["min_nodes"] = 9
    assert "max_nodes (4)" in errors_of(prod_doc)["gpu_pools[0].min_nodes"]


def test_duplicate_pool_names(prod_doc):
    prod_doc["gpu_pools"][1]["name"] = "h100-train"
    assert "duplicate" in errors_of(prod_doc)["gpu_pools[1].name"]


def test_kserve_without_cert_manager(prod_doc):
    prod_doc["components"]["cert_manager"]["enabled"] = False
    assert "cert_manager" in errors_of(prod_doc)["components.kserve.enabled"]


def test_mlflow_without_object_storage(prod_doc):
    prod_doc["components"]["object_storage"]["enabled"] = False
    assert "object_storage" in errors_of(prod_doc)["components.mlflow.enabled"]


def test_plaintext_credentials_are_refused(prod_doc):
    prod_doc["components"]["mlflow"]["admin_password"] = "hunter2"
    message = errors_of(prod_doc)["components.mlflow.admin_password"]
    assert "plaintext" in message and "secure" in message


def test_secret_with_two_sources_is_refused(prod_doc):
    prod_doc["components"]["mlflow"]["admin_password"] = {"secure": "v1:abc", "generate": True}
    assert "exactly one" in errors_of(prod_doc)["components.mlflow.admin_password"]


def test_unknown_key_is_a_typo_not_ignored(prod_doc):
    prod_doc["components"]["kueue"]["wait_for_pod_ready"] = True
    assert "unknown key" in errors_of(prod_doc)["components.kueue.wait_for_pod_ready"]


def test_time_slicing_without_replicas(prod_doc):
    prod_doc["gpu_pools"][0]["sharing"] = {"mode": "time-slicing"}
    assert "replicas" in errors_of(prod_doc)["gpu_pools[0].sharing.replicas"]


def test_every_problem_is_reported_at_once(prod_doc):
    prod_doc["gpu_pools"][0]["min_nodes"] = 9
    prod_doc["teams"][1]["gpu_quotas"][0]["pool"] = "nope"
    prod_doc["components"]["cert_manager"]["enabled"] = False
    assert len(errors_of(prod_doc)) == 3


def test_structural_errors_carry_the_bad_value(prod_doc):
    prod_doc["gpu_pools"][0]["gpus_per_node"] = 0
    assert "(got 0)" in errors_of(prod_doc)["gpu_pools[0].gpus_per_node"]


def test_local_ports_must_differ():
    document = env_document("local")
    document["local"] = {"ports": {"mlflow": 9090}}
    assert "another local server" in errors_of(document)["local.ports.mlflow"]


def test_cloud_targets_need_a_region(prod_doc):
    del prod_doc["cluster"]["region"]
    assert "required" in errors_of(prod_doc)["cluster.region"]


def onprem_doc() -> dict:
    return env_document("onprem")


def test_bare_metal_hosts_need_the_existing_target(prod_doc):
    prod_doc["gpu_pools"][0]["hosts"] = [{"name": "gpu-1", "address": "10.0.0.1"}]
    message = errors_of(prod_doc)["gpu_pools[0].hosts"]
    assert "target existing" in message and "gke" in message and "gpu-1" in message


def test_more_hosts_than_the_pool_scales_to():
    document = onprem_doc()
    document["gpu_pools"][1]["hosts"].append({"name": "gpu-a100-02", "address": "10.20.0.22"})
    assert "more hosts than max_nodes (1)" in errors_of(document)["gpu_pools[1].hosts"]


def test_a_host_in_two_pools():
    document = onprem_doc()
    document["gpu_pools"][1]["hosts"][0]["name"] = "gpu-l40s-01"
    assert "one pool only" in errors_of(document)["gpu_pools[1].hosts[0].name"]


def test_bare_metal_is_never_spot():
    document = onprem_doc()
    document["gpu_pools"][0]["spot"] = True
    assert "never spot" in errors_of(document)["gpu_pools[0].spot"]


def test_host_address_must_be_an_address():
    document = onprem_doc()
    document["gpu_pools"][0]["hosts"][0]["address"] = "10.0.0.1; rm -rf /"
    assert "gpu_pools[0].hosts[0].address" in errors_of(document)
