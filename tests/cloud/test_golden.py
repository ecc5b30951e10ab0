"""What the shipped cloud environments synthesize: the goldens of their stacks and node pools. Their
subject is the shipped files (stacks/platform), so a fork's edit shows here; the unit tests of the
same stacks run on tests/specs.py's stand-ins (tests/cloud/conftest.py)."""

from __future__ import annotations

import json

import pytest

from modules.cloud.node_pools import eks_node_groups, gke_node_pools
from modules.spec import load_spec
from tests.cloud.conftest import synthesize
from tests.conftest import assert_golden

SHIPPED_CLOUD_ENVS = ("dev", "prod")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    return synthesize([load_spec(env) for env in SHIPPED_CLOUD_ENVS], tmp_path_factory.mktemp("shipped-cloud"))


@pytest.mark.parametrize("env", SHIPPED_CLOUD_ENVS)
def test_golden_cloud_stack(env, shipped):
    assert_golden(f"cloud/{env}.tf.json", shipped[env].read_text())


@pytest.mark.parametrize(("env", "builder"), [("dev", eks_node_groups), ("prod", gke_node_pools)])
def test_golden_node_pools(env, builder):
    assert_golden(f"cloud/{env}-node-pools.json", json.dumps(builder(load_spec(env)), indent=2) + "\n")
