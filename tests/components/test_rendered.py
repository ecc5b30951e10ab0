"""Every object a cluster environment renders is valid against the real schemas, and the derivations
from GPU pools agree (flavors, quotas, sharing): on tests/specs.py's stand-ins. What the shipped
environments render: tests/components/test_golden.py."""

from __future__ import annotations

import pytest

from modules.components.contents import all_objects
from modules.components.kueue import flavor_name, kueue_objects
from tests.components.validation import validation_errors
from tests.specs import CLUSTER_STAND_INS, stand_in_spec


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_every_rendered_object_is_valid(env):
    errors = [e for obj in all_objects(stand_in_spec(env)) for e in validation_errors(obj)]
    assert errors == []


def test_validation_rejects_a_typo_in_a_custom_resource():
    queue = next(o for o in kueue_objects(stand_in_spec("prod")) if o["kind"] == "ClusterQueue")
    queue["spec"]["resourceGroup"] = queue["spec"].pop("resourceGroups")
    assert any("resourceGroup" in e for e in validation_errors(queue))


def test_validation_rejects_a_typo_in_a_builtin_kind():
    namespace = next(o for o in all_objects(stand_in_spec("prod")) if o["kind"] == "Namespace")
    namespace["spec"] = {"finalizer": ["x"]}
    assert validation_errors(namespace)


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_each_pool_has_one_flavor_selecting_its_nodes_and_tolerating_its_taint(env):
    spec = stand_in_spec(env)
    flavors = {o["metadata"]["name"]: o for o in kueue_objects(spec) if o["kind"] == "ResourceFlavor"}
    for pool in spec.gpu_pools:
        flavor = flavors[flavor_name(pool)]
        assert flavor["spec"]["nodeLabels"] == pool.node_labels
        for taint in pool.taints:
            assert any(
                t["key"] == taint["key"] and t["effect"] == taint["effect"] for t in flavor["spec"]["tolerations"]
            )
    assert len(flavors) == len(spec.gpu_pools) + 1  # + the CPU flavor


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_quota_per_flavor_never_exceeds_pool_capacity(env):
    spec = stand_in_spec(env)
    capacity = {flavor_name(p): p.max_gpu_slots for p in spec.gpu_pools}
    for queue in (o for o in kueue_objects(spec) if o["kind"] == "ClusterQueue"):
        for group in queue["spec"]["resourceGroups"]:
            for flavor in group["flavors"]:
                for resource in flavor["resources"]:
                    if resource["name"] == "nvidia.com/gpu":
                        assert int(resource["nominalQuota"]) <= capacity[flavor["name"]]
