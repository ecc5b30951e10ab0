"""The component registry: every platform component, each declared once in its own file.

The security baseline, `cnai render`, the Pulumi program, the endpoints document, `cnai up`'s
wait-ready and the cloud stacks' workload identities iterate over COMPONENTS; none of them keeps a
table of its own. Adding a component: its file in this folder (builders + `COMPONENT`), one line
below, its namespace in modules/spec/namespaces.py, and its page in docs/components/
(docs/adding-a-component.md).
"""

from __future__ import annotations

from graphlib import TopologicalSorter

from modules.components import (
    cert_manager,
    gpu_operator,
    jobset,
    karpenter,
    keda,
    kserve,
    kueue,
    milvus,
    mlflow,
    object_storage,
    observability,
)
from modules.components.identities import Workload
from modules.components.registry import Component
from modules.spec import Spec

# The order namespaces, policies and releases are listed in (render, goldens); install order comes
# from each component's `after` and `foundation` (install_order).
COMPONENTS: tuple[Component, ...] = (
    gpu_operator.COMPONENT,
    kueue.COMPONENT,
    jobset.COMPONENT,
    cert_manager.COMPONENT,
    keda.COMPONENT,
    kserve.COMPONENT,
    mlflow.COMPONENT,
    observability.COMPONENT,
    milvus.COMPONENT,
    object_storage.COMPONENT,
    karpenter.COMPONENT,
)
BY_KEY: dict[str, Component] = {c.key: c for c in COMPONENTS}


def component(key: str) -> Component:
    return BY_KEY[key]


def enabled_components(spec: Spec) -> list[Component]:
    return [c for c in COMPONENTS if c.enabled(spec)]


def dependencies(spec: Spec) -> dict[str, tuple[str, ...]]:
    """Each enabled component -> the enabled components it installs after."""
    enabled = enabled_components(spec)
    on = {c.key for c in enabled}
    foundations = tuple(c.key for c in enabled if c.foundation)
    return {c.key: tuple(dict.fromkeys(k for k in (*foundations, *c.after) if k in on and k != c.key)) for c in enabled}


def install_order(spec: Spec) -> list[Component]:
    """The enabled components, each after what it depends on (ties keep the catalogue's order)."""
    graph = dependencies(spec)
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=list(BY_KEY).index)
        ordered += ready
        sorter.done(*ready)
    return [BY_KEY[k] for k in ordered]


def workloads(spec: Spec) -> list[Workload]:
    """Every workload that needs a cloud identity (only where the store is the cloud's)."""
    found = [w for c in enabled_components(spec) if c.workloads for w in c.workloads(spec)]
    return [w for w in found if w.buckets]


def ready_namespaces(spec: Spec) -> list[str]:
    """Namespaces whose Deployments `cnai up` waits for."""
    return [c.namespace for c in enabled_components(spec) if c.wait_ready]
