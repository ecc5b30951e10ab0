"""Every object every shipped environment renders is valid against the real schemas, and the
derivations from GPU pools agree everywhere (flavors, quotas, sharing)."""

from __future__ import annotations

import pytest

from modules.components.kueue import flavor_name, kueue_objects
from modules.components.render import all_objects, rendered_files
from modules.spec import list_envs, load_spec
from tests.components.validation import validation_errors
from tests.conftest import assert_golden

CLUSTER_ENVS = [e for e in list_envs() if load_spec(e).is_cluster]


@pytest.mark.parametrize("env", CLUSTER_ENVS)
def test_every_rendered_object_is_valid(env):
    errors = [e for obj in all_objects(load_spec(env)) for e in validation_errors(obj)]
    assert errors == []


def test_validation_rejects_a_typo_in_a_custom_resource():
    queue = next(o for o in kueue_objects(load_spec("prod")) if o["kind"] == "ClusterQueue")
    queue["spec"]["resourceGroup"] = queue["spec"].pop("resourceGroups")
    assert any("resourceGroup" in e for e in validation_errors(queue))


def test_validation_rejects_a_typo_in_a_builtin_kind():
    namespace = next(o for o in all_objects(load_spec("prod")) if o["kind"] == "Namespace")
    namespace["spec"] = {"finalizer": ["x"]}
    assert validation_errors(namespace)


@pytest.mark.parametrize("env", CLUSTER_ENVS)
def test_each_pool_has_one_flavor_selecting_its_nodes_and_tolerating_its_taint(env):
    spec = load_spec(env)
    flavors = {o["metadata"]["name"]: o for o in kueue_objects(spec) if o["kind"] == "ResourceFlavor"}
    for pool in spec.gpu_pools:
        flavor = flavors[flavor_name(pool)]
        assert flavor["spec"]["nodeLabels"] == pool.node_labels
        for taint in pool.taints:
            assert any(
                t["key"] == taint["key"] and t["effect"] == taint["effect"] for t in flavor["spec"]["tolerations"]
            )
    assert len(flavors) == len(spec.gpu_pools) + 1  # + the CPU flavor


@pytest.mark.parametrize("env", CLUSTER_ENVS)
def test_quota_per_flavor_never_exceeds_pool_capacity(env):
    spec = load_spec(env)
    capacity = {flavor_name(p): p.max_gpu_slots for p in spec.gpu_pools}
    for queue in (o for o in kueue_objects(spec) if o["kind"] == "ClusterQueue"):
        for group in queue["spec"]["resourceGroups"]:
            for flavor in group["flavors"]:
                for resource in flavor["resources"]:
                    if resource["name"] == "nvidia.com/gpu":
                        assert resource["nominalQuota"] <= capacity[flavor["name"]]


@pytest.mark.parametrize("env", CLUSTER_ENVS)
def test_golden_rendered(env):
    for name, text in rendered_files(load_spec(env)).items():
        assert_golden(f"render/{env}/{name}", text)


def blueprint_variants():
    """Every blueprint under every cluster environment's overrides (the environment keeps its pools and teams)."""
    from modules.spec import list_blueprints, merged_document, validate
    from modules.spec.loader import read_environment

    for env in CLUSTER_ENVS:
        for blueprint in list_blueprints():
            document = {**read_environment(env), "blueprint": blueprint}
            yield pytest.param(validate(env, merged_document(env, document)), id=f"{blueprint}-{env}")


@pytest.mark.parametrize("spec", blueprint_variants())
def test_derivations_hold_for_every_blueprint_and_environment(spec):
    objects = kueue_objects(spec)
    flavors = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ResourceFlavor"}
    if spec.components.kueue.enabled:
        assert {flavor_name(p) for p in spec.gpu_pools} <= set(flavors)
        for pool in spec.gpu_pools:
            assert flavors[flavor_name(pool)]["spec"]["nodeLabels"] == pool.node_labels
    for queue in (o for o in objects if o["kind"] == "ClusterQueue"):
        for group in queue["spec"]["resourceGroups"]:
            for flavor in group["flavors"]:
                gpu = [r["nominalQuota"] for r in flavor["resources"] if r["name"] == "nvidia.com/gpu"]
                pools = [p for p in spec.gpu_pools if flavor_name(p) == flavor["name"]]
                assert all(q <= pools[0].max_gpu_slots for q in gpu)
    assert [e for obj in all_objects(spec) for e in validation_errors(obj)] == []
