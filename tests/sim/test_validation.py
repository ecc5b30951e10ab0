"""Every object cnai authors for an emulated environment, server-side applied to the real API server:
OpenAPI and CRD schemas, CEL rules, defaulting and admission webhooks; none may be rejected."""

from __future__ import annotations

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from modules.cluster import apply as kube
from modules.components.contents import all_objects
from modules.sim.runtime import SimRuntime
from tests.sim.conftest import built

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_authored_object_is_served_and_accepted(sim: SimRuntime, env: str):
    """The sim serves every kind cnai authors (the CRDs of the platform's charts are installed), and
    the real API server accepts every object: 0 rejected."""
    dyn = sim.client()
    objects = all_objects(built(env))
    unserved = set()
    for obj in objects:
        try:
            kube.resource_of(dyn, obj)
        except ResourceNotFoundError:
            unserved.add(f"{obj['apiVersion']}/{obj['kind']}")
    assert not unserved, f"kinds the sim does not serve: {sorted(unserved)}"
    applied = kube.apply_all(dyn, objects, retries_for_webhooks=30)  # raises naming every rejection
    assert len(applied) == len(objects) > 100
    for obj in applied:
        assert any(m["manager"] == kube.FIELD_MANAGER for m in obj["metadata"]["managedFields"])
