"""The shipped environments and blueprints load and mean what they say."""

from __future__ import annotations

import pytest

from modules.spec import list_blueprints, list_envs, load_spec, validate
from modules.spec.loader import deep_merge, read_blueprint

SHIPPED_ENVS = ["dev", "kind", "local", "onprem", "prod"]
SHIPPED_BLUEPRINTS = ["minimal", "rag", "reference", "serving", "training"]


def test_shipped_environments_and_blueprints_are_listed():
    assert list_envs() == SHIPPED_ENVS
    assert list_blueprints() == SHIPPED_BLUEPRINTS


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_every_environment_is_valid(env):
    spec = load_spec(env)
    assert spec.name == env


@pytest.mark.parametrize("blueprint", SHIPPED_BLUEPRINTS)
def test_every_blueprint_validates_on_a_kind_cluster(blueprint):
    document = deep_merge(read_blueprint(blueprint), {"blueprint": blueprint, "name": "bp-test"})
    document = deep_merge(
        document, {"cluster": {"target": "kind"}, "components": {"kserve": {"runtimes": ["mlserver"]}}}
    )
    if not document["teams"]:  # serving, rag: the environment brings its teams
        document["teams"] = [{"name": "apps"}]
    secrets = {"mlflow": "admin_password", "observability": "grafana_admin_password", "object_storage": "credentials"}
    for component, key in secrets.items():
        document["components"][component] = {**document["components"][component], key: {"generate": True}}
    assert validate("bp-test", document).blueprint == blueprint


def test_reference_blueprint_enables_everything():
    components = load_spec("kind").components
    assert components.kueue.enabled and components.kserve.enabled and components.vector_db.enabled


def test_dev_is_eks_with_one_spot_time_sliced_pool():
    spec = load_spec("dev")
    assert spec.cluster.target == "eks"
    [pool] = spec.gpu_pools
    assert pool.spot and pool.sharing.mode == "time-slicing"
    assert pool.max_gpu_slots == pool.max_nodes * pool.gpus_per_node * pool.sharing.replicas


def test_prod_is_gke_with_two_pools_one_mig_and_protected():
    spec = load_spec("prod")
    assert spec.cluster.target == "gke" and spec.cluster.protect
    assert len(spec.gpu_pools) == 2
    mig = [p for p in spec.gpu_pools if p.sharing.mode == "mig"]
    assert [p.sharing.mig_profile for p in mig] == ["1g.10gb"]
    assert mig[0].slots_per_gpu == 7


def test_local_runs_no_cluster_components():
    components = load_spec("local").components
    assert not components.kueue.enabled and not components.gpu_operator.enabled
    assert components.object_storage.credentials.generate


def test_deep_merge_merges_mappings_and_replaces_lists():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    assert deep_merge(base, {"a": {"y": [3]}}) == {"a": {"x": 1, "y": [3]}, "b": 1}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}, "merge must not mutate its input"


def test_environment_overrides_blueprint_settings():
    # The blueprint says postgresql; the local environment overrides it.
    assert read_blueprint("reference")["components"]["mlflow"]["backend"] == "postgresql"
    assert load_spec("local").components.mlflow.backend == "sqlite"
