"""The platform program run under pulumi.runtime.set_mocks: everything it would declare, with no engine
and no cluster. `cnai render` writes this record, so what it shows is what `pulumi up` applies (one
program, not a second wiring); the tests read the same record like a policy.

The mocks note each registration (inputs as the engine would receive them, its parent and the resources
it waits for); `declared()` turns that record into the objects the program applies and the Helm releases
it installs, with their values exactly as the program computes them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pydantic import BaseModel

from modules.spec import Spec
from modules.spec.models import Secret

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # pulumi.runtime.rpc's marker of a secret value
RELEASE = "kubernetes:helm.sh/v3:Release"
GROUP = "kubernetes:yaml/v2:ConfigGroup"
PASSWORD = "pulumi-python:dynamic:Resource"  # modules/k8s/generated.py: a generated credential
STACK = "pulumi:pulumi:Stack"


class Recorder(pulumi.runtime.Mocks):
    """Every registration the program makes, in order."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.urns: dict[str, str] = {}  # resource name -> URN
        self.parents: dict[str, str] = {}  # URN -> its parent's URN
        self.dependencies: dict[str, set[str]] = {}  # URN -> the URNs the engine makes it wait for
        self.stand_ins: list[str] = []  # what each credential is known by in this record

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        state = dict(args.inputs)
        if args.typ == PASSWORD:
            state["result"] = f"{args.name}-value"  # a stand-in: the engine generates the real one at `up`
            self.stand_ins.append(state["result"])
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> dict[str, pulumi.runtime.MockResourceArgs]:
        return {r.name: r for r in self.resources if r.typ == typ}

    def top_level(self, name: str) -> str:
        """The name of the stack's child that `name` belongs to (a component: its file in `cnai render`)."""
        names = {urn: n for n, urn in self.urns.items()}
        urn = self.urns[name]
        while (parent := self.parents.get(urn)) in names and _type_of(parent) != STACK:
            urn = parent
        return names[urn]

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


def _type_of(urn: str) -> str:
    """A URN's resource type: `urn:pulumi:<stack>::<project>::<parent types$>type::<name>`."""
    return urn.split("::")[2].split("$")[-1]


@contextmanager
def recording_registrations(recorder: Recorder) -> Iterator[None]:
    """The mock monitor, also noting each registration's URN, parent and dependencies (the engine
    orders by them; the Mocks interface does not pass them on)."""
    original = MockMonitor.RegisterResource

    def register(monitor: MockMonitor, request: Any) -> Any:
        response = original(monitor, request)
        recorder.urns[request.name] = response.urn
        recorder.parents[response.urn] = request.parent
        recorder.dependencies[response.urn] = set(request.dependencies)
        return response

    MockMonitor.RegisterResource = register  # type: ignore[method-assign]
    try:
        yield
    finally:
        MockMonitor.RegisterResource = original  # type: ignore[method-assign]


def credential_refs(value: Any, path: str = "") -> Iterator[tuple[str, Secret]]:
    """(dotted spec path, reference) of every credential an environment names."""
    if isinstance(value, Secret):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from credential_refs(getattr(value, name), f"{path}.{name}".lstrip("."))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from credential_refs(item, f"{path}.{index}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from credential_refs(item, f"{path}.{key}")


@contextmanager
def credential_stand_ins(spec: Spec) -> Iterator[list[str]]:
    """Every credential the spec reads at deploy time given a stand-in value for the program's run (the
    stack's decrypted `secure:` values, the environment variables named by `env:`), so that declaring
    never reads, needs or shows a real one; yields the stand-ins."""
    stand_ins: list[str] = []
    document: dict[str, Any] = {}
    saved = dict(os.environ)
    for path, ref in credential_refs(spec):
        stand_in = f"{path}-stand-in"
        if ref.env is not None:
            os.environ[ref.env] = stand_in
        elif ref.secure is not None:
            *parents, leaf = path.split(".")
            reduce(lambda node, key: node.setdefault(key, {}), parents, document)[leaf] = stand_in
        else:
            continue
        stand_ins.append(stand_in)
    pulumi.runtime.set_all_config({"cnai:spec": json.dumps(document)}, ["cnai:spec"])
    try:
        yield stand_ins
    finally:
        pulumi.runtime.set_all_config({}, [])
        os.environ.clear()
        os.environ.update(saved)


def declare(spec: Spec) -> tuple[Recorder, dict]:
    """Run the platform program for an environment under mocks; returns what it declared and its outputs."""
    import pulumi_kubernetes as k8s

    from modules.k8s.platform import deploy_platform

    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="cnai-platform", stack=spec.name, preview=False)
    outputs: dict = {}

    @pulumi.runtime.test
    def program():
        outputs.update(deploy_platform(spec, k8s.Provider("k8s", context="mocked")))

    with recording_registrations(recorder), credential_stand_ins(spec) as stand_ins:
        program()  # returns once every resource registration has reached the mocks
    recorder.stand_ins += stand_ins
    return recorder, outputs


def plain(value: Any, text: Callable[[str], str] = str) -> Any:
    """An input with Pulumi's secret wrappers taken off (the value the provider would receive), and whole
    numbers as integers (inputs cross to the engine as protobuf Structs, whose only number is a double:
    a replica count of 1 arrives as 1.0, and the provider sends Kubernetes the integer); every string
    through `text`."""
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value:
            return plain(value["value"], text)
        return {k: plain(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, text) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return text(value) if isinstance(value, str) else value


MASK = "[secret: set at deploy]"


def masked(value: Any, stand_ins: list[str]) -> Any:
    """An input with every credential replaced by a marker: what `cnai render` may show. Credentials are
    masked by their stand-in values (a Pulumi secret wraps whole objects built from one, and a mocked
    generated key is not marked secret at all)."""

    def hide(text: str) -> str:
        return reduce(lambda masked_text, stand_in: masked_text.replace(stand_in, MASK), stand_ins, text)

    return plain(value, hide)


@dataclass
class Declared:
    """What the program declares: authored objects, Helm releases, and every generated secret value."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)  # the Release resources' inputs
    generated: list[str] = field(default_factory=list)  # GeneratedSecret stand-in results
    recorder: Recorder = field(default_factory=Recorder)  # every registration, with its dependencies

    def in_install_order(self, typ: str) -> list[tuple[str, Any]]:
        """(component name, inputs with secrets masked) of each resource of a type, in an order the engine
        may create them (fewer prerequisites first, then by name): registrations reach the mocks in no
        fixed order."""
        recorder = self.recorder
        resources = sorted(recorder.of_type(typ).values(), key=lambda r: (len(recorder.waits_for(r.name)), r.name))
        return [(recorder.top_level(r.name), masked(r.inputs, recorder.stand_ins)) for r in resources]

    def by_component(self, typ: str) -> dict[str, list[Any]]:
        """Component name -> the masked inputs of its resources of a type, in install order."""
        grouped: dict[str, list[Any]] = {}
        for component, inputs in self.in_install_order(typ):
            grouped.setdefault(component, []).append(inputs)
        return grouped


def declared(spec: Spec) -> Declared:
    recorder, _ = declare(spec)
    return Declared(
        objects=[o for g in recorder.of_type(GROUP).values() for o in plain(g.inputs["objs"])],
        releases=[plain(r.inputs) for r in recorder.of_type(RELEASE).values()],
        generated=[f"{name}-value" for name in recorder.of_type(PASSWORD)],
        recorder=recorder,
    )
