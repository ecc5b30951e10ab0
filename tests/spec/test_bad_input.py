"""Every kind of mistake gets one error naming its field path, the bad value and what is allowed."""

from __future__ import annotations

import pytest

from modules.spec import SpecInvalid, validate
from tests import specs


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


def test_cert_manager_without_kserve_which_installs_it(prod_doc):
    """Kueue would request certificates from a cert-manager that nothing installs."""
    prod_doc["components"]["kserve"]["enabled"] = False
    assert "installed with KServe" in errors_of(prod_doc)["components.cert_manager.enabled"]


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
    document = specs.local_document()
    document["local"] = {"ports": {"mlflow": 9090}}
    assert "another local server" in errors_of(document)["local.ports.mlflow"]


def test_cloud_targets_need_a_region(prod_doc):
    del prod_doc["cluster"]["region"]
    assert "required" in errors_of(prod_doc)["cluster.region"]


def onprem_doc() -> dict:
    return specs.onprem_like()


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


@pytest.mark.parametrize(
    ("namespace", "owner"),
    [
        ("kube-system", "Kubernetes"),
        ("default", "Kubernetes"),
        ("kube-flow", "kube- prefix is reserved"),
        ("kserve", "the platform's kserve"),
        ("cnai-mlflow", "the platform's mlflow"),
        ("kueue-system", "the platform's kueue"),
        ("gpu-operator", "the platform's gpu_operator"),
        ("cert-manager", "the platform's cert_manager"),
    ],
)
def test_team_namespace_must_not_be_a_system_or_platform_namespace(prod_doc, namespace, owner):
    prod_doc["teams"][0]["namespace"] = namespace
    message = errors_of(prod_doc)["teams[0].namespace"]
    assert owner in message and namespace in message


def test_platform_namespaces_are_reserved_even_when_the_component_is_off(prod_doc):
    prod_doc["components"]["vector_db"]["enabled"] = False
    prod_doc["teams"][0]["namespace"] = "cnai-milvus"
    assert "vector_db" in errors_of(prod_doc)["teams[0].namespace"]


def test_kind_reserves_its_local_path_namespace():
    document = specs.kind_like()
    document["teams"][0]["namespace"] = "local-path-storage"
    assert "kind cluster" in errors_of(document)["teams[0].namespace"]


def test_two_teams_in_one_namespace(prod_doc):
    prod_doc["teams"][1]["namespace"] = prod_doc["teams"][0]["namespace"] = "shared"
    assert "another team" in errors_of(prod_doc)["teams[1].namespace"]
    prod_doc["teams"][0]["namespace"] = None
    prod_doc["teams"][1]["namespace"] = f"team-{prod_doc['teams'][0]['name']}"  # the default of the other
    assert "another team" in errors_of(prod_doc)["teams[1].namespace"]


def test_a_cluster_environment_needs_a_team(prod_doc):
    prod_doc["teams"] = []
    assert "at least one team" in errors_of(prod_doc)["teams"]


def test_the_local_environment_needs_no_team():
    assert validate("local", specs.local_document()).teams == []


@pytest.mark.parametrize(
    ("cidr", "why"),
    [
        ("10.0.0.1/8", "has host bits set"),
        ("999.1.1.0/24", "not an IPv4 CIDR"),
        ("10.0.0.0/33", "not an IPv4 CIDR"),
        ("0.0.0.0/0", "the whole internet"),
        ("0.0.0.0/1", "2147483648 addresses"),
    ],
)
def test_api_access_cidrs_are_checked(prod_doc, cidr, why):
    prod_doc["cluster"]["api_access_cidrs"] = ["203.0.113.0/24", cidr]
    message = errors_of(prod_doc)["cluster.api_access_cidrs[1]"]
    assert why in message and cidr in message


def test_a_public_api_needs_the_explicit_opt_in(prod_doc):
    prod_doc["cluster"]["api_access_cidrs"] = ["0.0.0.0/0"]
    assert "allow_public_api" in errors_of(prod_doc)["cluster.api_access_cidrs[0]"]
    prod_doc["cluster"]["allow_public_api"] = True
    assert validate("t", prod_doc).cluster.api_access_cidrs == ["0.0.0.0/0"]


@pytest.mark.parametrize(
    ("value", "path"), [("", ""), ("   ", ""), ({"secure": ""}, ".secure"), ({"secure": " "}, ".secure")]
)
def test_empty_secrets_are_refused(prod_doc, value, path):
    prod_doc["components"]["mlflow"]["admin_password"] = value
    assert "empty" in errors_of(prod_doc)[f"components.mlflow.admin_password{path}"]


def test_duplicate_zones(prod_doc):
    prod_doc["cluster"]["zones"] = [*prod_doc["cluster"]["zones"], prod_doc["cluster"]["zones"][0]]
    assert "listed twice" in errors_of(prod_doc)[f"cluster.zones[{len(prod_doc['cluster']['zones']) - 1}]"]


def test_duplicate_buckets(prod_doc):
    prod_doc["components"]["object_storage"]["buckets"] = ["models", "datasets", "models"]
    errors = errors_of(prod_doc)
    assert "listed twice" in errors["components.object_storage.buckets[2]"]
    assert "listed twice" in errors["components.object_storage.buckets[0]"]


def test_duplicate_api_cidrs(prod_doc):
    prod_doc["cluster"]["api_access_cidrs"] = ["203.0.113.0/24", "203.0.113.0/24"]
    assert "listed twice" in errors_of(prod_doc)["cluster.api_access_cidrs[1]"]


def test_odd_keys_and_huge_values_make_short_errors(prod_doc):
    prod_doc["components"]["x" * 10_000 + "\n[red]"] = list(range(100_000))
    prod_doc["description"] = ["y" * 1_000_000]
    with pytest.raises(SpecInvalid) as info:
        validate("t", prod_doc)
    assert all(len(str(e)) < 300 for e in info.value.errors)


def test_messages_that_quote_a_huge_value_stay_short(prod_doc):
    """Found by the file fuzzer in CI: a 5,000-character region was quoted whole by the zone and
    accelerator-offer checks ("zone is not in region 111...")."""
    prod_doc["cluster"]["region"] = "1" * 5000
    with pytest.raises(SpecInvalid) as info:
        validate("prod", prod_doc)
    assert info.value.errors and all(len(str(error)) < 1000 for error in info.value.errors)
