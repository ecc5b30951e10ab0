"""What a platform component is, declared once: the types of the registry (modules/components/catalog.py).

Each component's file (modules/components/<key>.py) holds its builders and one `COMPONENT`. Everything
that used to restate a component's facts reads them from here: the Pulumi program and `cnai render`
(releases, objects), the security baseline (namespace, Pod Security level, the traffic it needs), the
endpoints document (its Services), `cnai up`'s wait-ready, and the cloud stacks (workload identities).
Pure data: importable without Pulumi, cdktn or the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modules.components.identities import Workload
from modules.spec import Spec

Values = Callable[[Spec], dict[str, Any]]
Objects = Callable[[Spec], list[dict[str, Any]]]
Condition = Callable[[Spec], bool]


def no_values(spec: Spec) -> dict[str, Any]:
    """A chart installed with its defaults."""
    return {}


def always(spec: Spec) -> bool:
    return True


@dataclass(frozen=True)
class Release:
    """A Helm release of a chart pinned in modules/versions.yaml; the release is named for its BOM key
    (the charts name their Services after it)."""

    chart: str  # the BOM key
    resource: str  # the Pulumi resource's name after the component's ("kueue" + "chart" -> kueue-chart)
    values: Values = no_values
    enabled: Condition = always  # narrower than the component (the in-cluster store, the GPU Operator)


@dataclass(frozen=True)
class Service:
    """A Service other namespaces call, as the chart or cnai's objects name it.

    `role` names it in NetworkPolicies (`allow-to-<role>` in callers, `allow-clients-<role>` beside it)
    and in the `calls` of other components; `ports` are its pods' ports (what a policy sees behind the
    Service; the first is the one clients address)."""

    role: str
    name: str
    ports: tuple[int, ...]
    pods: Mapping[str, str] = field(default_factory=dict)  # the pods serving it (empty: any of its namespace)
    from_anywhere: bool = False  # admits any source, not only labelled platform clients
    enabled: Condition = always  # narrower than the component (KServe's Gateway)


@dataclass(frozen=True)
class Component:
    """One platform component. `key` is its section of the spec (`components.<key>`, or the component
    that installs it), its namespace's key (modules/spec/namespaces.py), and, dashed, its docs page
    (docs/components/<key-with-dashes>.md)."""

    key: str
    name: str  # its Pulumi resource's name and the prefix of its children's
    namespace: str
    enabled: Condition
    pod_security: str = "restricted"  # privileged only where the workload needs the host
    releases: tuple[Release, ...] = ()
    objects: Objects | None = None  # the Kubernetes objects cnai authors for it
    objects_resource: str = "objects"  # the Pulumi name of their group, after the component's
    # Objects follow the releases (they may be of kinds the releases' CRDs define), unless its releases
    # read them (the GPU Operator's device plugin config).
    objects_first: bool = False
    policies: Objects | None = None  # NetworkPolicies it needs beyond the traffic declared below
    services: tuple[Service, ...] = ()
    wait_ready: bool = False  # `cnai up` waits for its Deployments to be Available
    foundation: bool = False  # every other component installs after it (it brings CRDs their charts use)
    after: tuple[str, ...] = ()  # components it installs after, when they are enabled
    calls: tuple[str, ...] = ()  # roles of the services its pods call
    platform_client: bool = False  # its namespace is labelled a client of the platform's services
    api_client: str | None = None  # who in it calls the API server (None: nobody)
    api_callbacks: tuple[int, ...] = ()  # ports the API server calls back on (webhooks, aggregated APIs)
    workloads: Callable[[Spec], list[Workload]] | None = None  # what needs a cloud identity
    local_servers: tuple[str, ...] = ()  # its counterparts in the local environment (modules/local)
    pulumi_type: str = ""  # the Pulumi adapter's type token: cnai:k8s:<pulumi_type>

    def release(self, chart: str) -> Release:
        return next(r for r in self.releases if r.chart == chart)

    def service(self, role: str) -> Service:
        return next(s for s in self.services if s.role == role)

    def host(self, role: str) -> str:
        """The cluster DNS name of one of its Services."""
        return f"{self.service(role).name}.{self.namespace}.svc"

    def port(self, role: str) -> int:
        """The port clients address one of its Services on."""
        return self.service(role).ports[0]

    def address(self, role: str, port: int | None = None) -> str:
        return f"{self.host(role)}:{port or self.port(role)}"

    def url(self, role: str, port: int | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{self.address(role, port)}"

    def releases_for(self, spec: Spec) -> list[Release]:
        return [r for r in self.releases if r.enabled(spec)] if self.enabled(spec) else []

    def objects_for(self, spec: Spec) -> list[dict[str, Any]]:
        return self.objects(spec) if self.objects and self.enabled(spec) else []
