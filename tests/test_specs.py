"""The spec builders (tests/specs.py) make valid specs without reading a file, and unit tests use them:
a test module reads a shipped environment (stacks/platform) only when that environment is its subject."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modules.spec import Spec, SpecInvalid, load_spec
from tests import specs

TESTS = Path(__file__).parent

# A test module that reads a shipped environment: by name through the loader, or by its file's path.
READS_SHIPPED = re.compile(
    r"\b(load_spec|env_document|read_environment|merged_document|list_envs)\("
    r'|"stacks"\s*/\s*"platform"'
    r"|stacks/platform/Pulumi\.\w+\.yaml"
)

# Test modules whose subject IS a shipped environment (or the loader reading files), each with why.
SHIPPED_ENVIRONMENT_TESTS: dict[str, str] = {
    "tests/spec/test_environments.py": "its subject: the shipped environments load and mean what they say",
    "tests/spec/test_loader.py": "its subject: the loader reading stack files (scratch ones, under CNAI_STACKS)",
    "tests/spec/test_properties.py": "its subject: the loader fuzzed with stack files (built ones, in scratch folders)",
    "tests/nodes/test_inventory.py": "the golden of the shipped onprem inventory, and `cnai nodes inventory onprem`",
    "tests/nodes/test_site.py": "runs `cnai nodes apply onprem`, the shipped command, on the shipped onprem's hosts",
    "tests/local/test_stack.py": "the goldens of what the shipped local environment renders",
    "tests/test_project.py": "its subject: a fork's project folder, made by copying the shipped stacks as a fork does",
    "tests/components/test_golden.py": "every shipped blueprint under each shipped cluster environment's overrides",
    "tests/k8s/test_render.py": "the goldens of what `cnai render` writes for the shipped cluster environments",
    "tests/cloud/test_golden.py": "the goldens of the shipped dev's and prod's synthesized cloud stacks and node pools",
    "tests/test_layers.py": "the cloud extra alone synthesizes the shipped dev and prod, as a user's `cnai up` would",
}

TARGET_BUILDERS = {
    "local": specs.local_document,
    "kind": specs.kind_document,
    "existing": specs.onprem_document,
    "eks": specs.eks_document,
    "gke": specs.gke_document,
}
ALL_BUILDERS = {**TARGET_BUILDERS, **{f"{env}-like": build for env, build in specs.STAND_INS.items()}}


def modules_reading_shipped_environments() -> set[str]:
    found = set()
    for path in TESTS.rglob("*.py"):
        relative = path.relative_to(TESTS.parent).as_posix()
        if relative.startswith("tests/golden/") or path == Path(__file__):
            continue
        if READS_SHIPPED.search(path.read_text()):
            found.add(relative)
    return found


def test_only_tests_of_the_shipped_environments_read_them():
    reading = modules_reading_shipped_environments()
    unexpected = reading - set(SHIPPED_ENVIRONMENT_TESTS)
    assert not unexpected, (
        f"{sorted(unexpected)} read stacks/platform: build the spec with tests/specs.py, or, if a shipped "
        "environment is the test's subject, add the module to SHIPPED_ENVIRONMENT_TESTS with the reason"
    )


def test_the_list_names_only_modules_that_still_read_them():
    stale = set(SHIPPED_ENVIRONMENT_TESTS) - modules_reading_shipped_environments()
    assert not stale, f"{sorted(stale)} no longer read a shipped environment: remove them from the list"


@pytest.fixture
def no_files(tmp_path, monkeypatch):
    """Stacks and blueprints folders that are empty: a builder that read either would fail."""
    for variable, folder in (("CNAI_STACKS", "stacks"), ("CNAI_BLUEPRINTS", "blueprints")):
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / folder))


@pytest.mark.parametrize("name", sorted(ALL_BUILDERS))
def test_every_builder_makes_a_valid_spec_without_reading_a_file(no_files, name):
    document = ALL_BUILDERS[name]()
    built = specs.spec(document)
    assert isinstance(built, Spec) and built.name == document["name"]
    assert set(document["components"]) == set(specs.COMPONENTS), "every component listed, for tests to flip"


@pytest.mark.parametrize(("target", "build"), sorted(TARGET_BUILDERS.items()))
def test_each_target_builder_makes_its_target(target, build):
    assert specs.spec(build()).cluster.target == target


def test_documents_are_fresh_on_every_call():
    first = specs.prod_like()
    first["gpu_pools"][0]["max_nodes"] = 99
    first["components"]["kserve"]["enabled"] = False
    second = specs.spec(specs.prod_like())
    assert second.gpu_pools[0].max_nodes == 4 and second.components.kserve.enabled
    document = specs.dev_like()
    specs.spec(document)
    assert document == specs.dev_like(), "validating leaves the document as it was"


def test_parts_take_the_facts_a_test_needs():
    pools = [
        specs.gpu_pool("ts", "nvidia-a10g", nodes=2, spot=True, time_slicing=4),
        specs.gpu_pool("mig", "nvidia-a100-80gb", gpus_per_node=8, nodes=2, mig="1g.10gb"),
    ]
    teams = [
        specs.team("a", specs.quota("ts", 8, 0), specs.quota("mig", 112), cpu=4, memory_gib=8),
        specs.team("b", namespace="shared-b"),
    ]
    built = specs.spec(specs.eks_document("two-pools", gpu_pools=pools, teams=teams))
    assert built.pool("ts").spot and built.pool("ts").max_gpu_slots == 8
    assert built.pool("mig").max_gpu_slots == 2 * 8 * 7
    assert built.teams[0].gpu_quotas[0].borrowing_limit == 0 and built.teams[0].gpu_quotas[1].borrowing_limit is None
    assert (built.teams[0].cpu, built.teams[0].memory_gib) == (4, 8)
    assert built.teams[1].namespace_name == "shared-b"
    with pytest.raises(ValueError, match="not both"):
        specs.gpu_pool(time_slicing=2, mig="1g.10gb")


def test_overrides_merge_into_the_targets_settings():
    document = specs.gke_document(components={"vector_db": {"mode": "cluster"}}, cluster={"protect": True})
    built = specs.spec(document)
    assert built.components.vector_db.mode == "cluster" and built.components.vector_db.enabled
    assert built.components.object_storage.provider == "gcs", "the target's own settings stay"
    assert built.cluster.protect and built.cluster.region == "europe-west4"


def test_a_broken_document_is_refused_with_its_field():
    document = specs.prod_like()
    document["gpu_pools"][0]["min_nodes"] = 9
    with pytest.raises(SpecInvalid) as refused:
        specs.spec(document)
    assert [e.path for e in refused.value.errors] == ["gpu_pools[0].min_nodes"]


@pytest.mark.parametrize(
    ("env", "facts"),
    [
        ("dev", lambda s: s.cluster.target == "eks" and [p.sharing.mode for p in s.gpu_pools] == ["time-slicing"]),
        ("dev", lambda s: s.gpu_pools[0].spot and len(s.teams) == 2),
        ("prod", lambda s: s.cluster.target == "gke" and s.cluster.protect and len(s.gpu_pools) == 2),
        ("prod", lambda s: [p.sharing.mig_profile for p in s.gpu_pools] == [None, "1g.10gb"]),
        ("onprem", lambda s: s.cluster.target == "existing" and all(p.hosts for p in s.gpu_pools)),
        ("kind", lambda s: s.cluster.target == "kind" and not s.components.gpu_operator.enabled and s.gpu_pools),
        ("local", lambda s: not s.is_cluster and s.teams == []),
    ],
)
def test_stand_ins_have_the_shapes_their_docstrings_promise(env, facts):
    assert facts(specs.stand_in_spec(env))


def test_written_stacks_load_by_name_as_built(tmp_path, monkeypatch):
    documents = [specs.stand_in(env) for env in specs.STAND_INS]
    stacks = specs.use_stacks(monkeypatch, tmp_path, documents)
    assert sorted(p.name for p in stacks.iterdir()) == sorted(f"Pulumi.{d['name']}.yaml" for d in documents)
    for document in documents:
        assert load_spec(document["name"]) == specs.spec(document)
