"""The component registry: every component declared once, consistently, and read by everything."""

from __future__ import annotations

import pytest

from modules.components.catalog import BY_KEY, COMPONENTS, dependencies, install_order, ready_namespaces, workloads
from modules.components.contents import helm_releases
from modules.spec.loader import REPO_ROOT
from modules.spec.namespaces import PLATFORM_NAMESPACES
from modules.versions import chart
from tests.specs import CLUSTER_STAND_INS, stand_in_spec


def test_each_component_owns_one_reserved_namespace():
    assert [c.namespace for c in COMPONENTS] == [PLATFORM_NAMESPACES[c.key] for c in COMPONENTS]
    assert set(BY_KEY) == set(PLATFORM_NAMESPACES)
    assert len({c.namespace for c in COMPONENTS}) == len(COMPONENTS)


def test_each_component_is_documented_where_a_newcomer_looks():
    for c in COMPONENTS:
        page = REPO_ROOT / "docs" / "components" / f"{c.key.replace('_', '-')}.md"
        assert page.is_file(), f"{c.key}: no {page.relative_to(REPO_ROOT)}"
        source = f"modules/components/{'milvus' if c.key == 'vector_db' else c.key}.py"
        assert source in page.read_text(), f"{page.name} does not say where {c.key} is declared ({source})"


def test_releases_are_pinned_and_references_resolve():
    roles = {s.role for c in COMPONENTS for s in c.services} | {"object-store"}  # or the cloud's store
    for c in COMPONENTS:
        assert all(chart(r.chart)["version"] for r in c.releases), c.key
        assert set(c.after) <= set(BY_KEY), c.key
        assert set(c.calls) <= roles, c.key
        assert c.pulumi_type and c.pod_security in ("restricted", "baseline", "privileged"), c.key


@pytest.mark.parametrize("env", CLUSTER_STAND_INS)
def test_install_order_puts_each_component_after_what_it_needs(env):
    spec = stand_in_spec(env)
    order = [c.key for c in install_order(spec)]
    for key, needs in dependencies(spec).items():
        assert all(order.index(need) < order.index(key) for need in needs), (key, needs, order)
    assert order[0] == "observability"  # the foundation: the CRDs of every chart's ServiceMonitors


def test_install_order_follows_the_spec():
    kind = stand_in_spec("kind")
    order = [c.key for c in install_order(kind)]
    assert order.index("jobset") < order.index("kueue") and order.index("cert_manager") < order.index("kserve")
    assert order.index("object_storage") < order.index("vector_db") < len(order)
    assert "karpenter" not in order  # EKS only
    assert "karpenter" in [c.key for c in install_order(stand_in_spec("dev"))]


def test_render_lists_what_the_registry_declares():
    spec = stand_in_spec("onprem")
    assert [r["name"] for r in helm_releases(spec)] == [r.chart for c in COMPONENTS for r in c.releases_for(spec)]
    assert {r["namespace"] for r in helm_releases(spec)} <= set(PLATFORM_NAMESPACES.values())


def test_wait_ready_and_workloads_come_from_the_declarations():
    dev = stand_in_spec("dev")
    assert ready_namespaces(dev) == [
        "kueue-system",
        "cert-manager",
        "keda",
        "kserve",
        "cnai-mlflow",
        "cnai-observability",
    ]
    assert [w.name for w in workloads(dev)][:1] == ["models-research"]
    assert workloads(stand_in_spec("kind")) == []  # the in-cluster store hands out keys, not identities
