"""What the shipped environments' builders return: every shipped blueprint under each cluster
environment's overrides rendering valid objects whose derivations from the GPU pools agree (flavors,
quotas). Their subject is the shipped files, so a fork's edit shows here; the unit tests of the same
builders run on tests/specs.py's stand-ins (tests/components/test_rendered.py), and the goldens of
`cnai render` are tests/k8s/test_render.py's."""

from __future__ import annotations

import pytest

from modules.components.contents import all_objects
from modules.components.kueue import flavor_name, kueue_objects
from modules.spec import list_blueprints, list_envs, load_spec, merged_document, validate
from modules.spec.loader import read_environment
from tests.components.validation import validation_errors

CLUSTER_ENVS = [e for e in list_envs() if load_spec(e).is_cluster]


def blueprint_variants():
    """Every blueprint under every cluster environment's overrides (the environment keeps its pools and teams)."""
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
                gpu = [int(r["nominalQuota"]) for r in flavor["resources"] if r["name"] == "nvidia.com/gpu"]
                pools = [p for p in spec.gpu_pools if flavor_name(p) == flavor["name"]]
                assert all(q <= pools[0].max_gpu_slots for q in gpu)
    assert [e for obj in all_objects(spec) for e in validation_errors(obj)] == []
