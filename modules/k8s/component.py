"""Any component of the registry as Pulumi resources; the components that make credentials have their own
adapter beside this one (mlflow.py, object_storage.py, observability.py)."""

from __future__ import annotations

import pulumi

from modules.components.registry import Component
from modules.k8s.pulumi_resources import child_of, helm_release, object_group
from modules.spec import Spec


class PlatformComponent(pulumi.ComponentResource):
    """A component's Helm releases in declared order, each after the one before, and the objects cnai
    authors for it: after the releases (they may be of the kinds the releases' CRDs define), or before
    them where the component says its releases read them."""

    def __init__(self, component: Component, spec: Spec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"cnai:k8s:{component.pulumi_type}", component.name, None, opts)
        objects = component.objects_for(spec)
        group = f"{component.name}-{component.objects_resource}"
        previous: list[pulumi.Resource] = []
        if objects and component.objects_first:
            previous = [object_group(group, objects, child_of(self, opts))]
        releases: list[pulumi.Resource] = []
        for release in component.releases_for(spec):
            releases.append(helm_release(component.name, component, release, spec, child_of(self, opts, *previous)))
            previous = releases[-1:]
        if objects and not component.objects_first:
            object_group(group, objects, child_of(self, opts, *releases))
        self.register_outputs({"releases": [r.urn for r in releases]})
