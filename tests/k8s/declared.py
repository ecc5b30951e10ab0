"""The platform program run under pulumi.runtime.set_mocks: what it would declare, read like a policy.

No cloud cluster is reachable here, so the mocks record each registration (inputs as the engine would
receive them); `content()` turns that record into the objects the program applies and the Helm
releases it installs, with their values exactly as the program computes them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from modules.spec import Spec

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # pulumi.runtime.rpc's marker of a secret value
RELEASE = "kubernetes:helm.sh/v3:Release"
GROUP = "kubernetes:yaml/v2:ConfigGroup"
PASSWORD = "pulumi-python:dynamic:Resource"  # modules/k8s/generated.py: a generated credential


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.urns: dict[str, str] = {}  # resource name -> URN
        self.dependencies: dict[str, set[str]] = {}  # URN -> the URNs the engine makes it wait for

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        state = dict(args.inputs)
        if args.typ == PASSWORD:
            state["result"] = f"{args.name}-value"  # what a generated key is known by in these tests
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> dict[str, pulumi.runtime.MockResourceArgs]:
        return {r.name: r for r in self.resources if r.typ == typ}

    def waits_for(self, name: str) -> set[str]:
        """Names of every resource the engine must finish before creating `name` (transitively)."""
        names = {urn: n for n, urn in self.urns.items()}
        seen: set[str] = set()
        todo = list(self.dependencies.get(self.urns[name], ()))
        while todo:
            urn = todo.pop()
            if urn not in seen:
                seen.add(urn)
                todo += self.dependencies.get(urn, ())
        return {names[u] for u in seen if u in names}


@contextmanager
def recording_dependencies(recorder: Recorder) -> Iterator[None]:
    """The mock monitor, also noting each registration's URN and dependencies (the engine orders by them;
    the Mocks interface does not pass them on)."""
    original = MockMonitor.RegisterResource

    def register(monitor: MockMonitor, request: Any) -> Any:
        response = original(monitor, request)
        recorder.urns[request.name] = response.urn
        recorder.dependencies[response.urn] = set(request.dependencies)
        return response

    MockMonitor.RegisterResource = register  # type: ignore[method-assign]
    try:
        yield
    finally:
        MockMonitor.RegisterResource = original  # type: ignore[method-assign]


def declare(spec: Spec) -> tuple[Recorder, dict]:
    """Run the platform program for an environment under mocks; returns what it declared."""
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="cnai-platform", stack=spec.name, preview=False)
    outputs: dict = {}

    @pulumi.runtime.test
    def program():
        import pulumi_kubernetes as k8s

        from modules.k8s.platform import deploy_platform

        outputs.update(deploy_platform(spec, k8s.Provider("k8s", context="test")))

    with recording_dependencies(recorder):
        program()  # returns once every resource registration has reached the mocks
    return recorder, outputs


def plain(value: Any) -> Any:
    """An input with Pulumi's secret wrappers taken off (the value the provider would receive)."""
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value:
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass
class Declared:
    """What the program declares: authored objects, Helm releases, and every generated secret value."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)  # the Release resources' inputs
    generated: list[str] = field(default_factory=list)  # GeneratedSecret results
    recorder: Recorder = field(default_factory=Recorder)  # every registration, with its dependencies


def content(spec: Spec) -> Declared:
    recorder, _ = declare(spec)
    return Declared(
        objects=[o for g in recorder.of_type(GROUP).values() for o in plain(g.inputs["objs"])],
        releases=[plain(r.inputs) for r in recorder.of_type(RELEASE).values()],
        generated=[f"{name}-value" for name in recorder.of_type(PASSWORD)],
        recorder=recorder,
    )


# What a chart needs set before it renders at all: its "defaults" for comparisons.
REQUIRED_TO_RENDER: dict[str, dict[str, Any]] = {
    "opentelemetry-collector": {"mode": "deployment", "image": {"repository": "otel/opentelemetry-collector-contrib"}},
    "karpenter": {"settings": {"clusterName": "any-cluster"}},
}


_RENDERED: dict[str, list[dict[str, Any]]] = {}  # one `helm template` per chart and values, per session


def rendered_releases(helm: str, releases: list[dict[str, Any]], defaults: bool = False) -> dict[str, list[dict]]:
    """Release name -> its chart's documents (release namespace set), rendered with the values the
    program passes, or with the chart's defaults (to tell what cnai's values change). Read-only: the
    documents are shared by every test that renders the same release with the same values."""
    from modules.components.references import placed
    from modules.sim.charts import render

    out = {}
    for r in releases:
        values = REQUIRED_TO_RENDER.get(r["name"], {}) if defaults else r["values"] or {}
        key = json.dumps([r["name"], r["namespace"], values], sort_keys=True)
        if key not in _RENDERED:
            _RENDERED[key] = placed(render(helm, r["name"], r["name"], r["namespace"], values), r["namespace"])
        out[r["name"]] = _RENDERED[key]
    return out


def built_helm() -> str:
    """The helm binary `cnai setup sim` builds; a skip without it (a failure where CI requires it)."""
    from modules.sim import build

    helm = build.path_of("helm")
    if not helm.is_file():
        message = f"helm not built ({helm}): run `cnai setup sim`"
        if os.environ.get("CNAI_REQUIRE_SIM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return str(helm)
