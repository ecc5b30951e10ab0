"""`cnai render`: every object cnai authors and every Helm release it installs, as reviewable YAML."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from modules.k8s.gpu_operator import gpu_operator_objects, gpu_operator_values
from modules.k8s.kueue import kueue_objects, kueue_values
from modules.k8s.security import COMPONENT_NAMESPACES, security_objects
from modules.spec import Spec
from modules.versions import chart

ObjectBuilder = Callable[[Spec], list[dict[str, Any]]]

OBJECT_BUILDERS: dict[str, ObjectBuilder] = {
    "security": security_objects,
    "gpu-operator": gpu_operator_objects,
    "kueue": kueue_objects,
}

# chart name in the BOM -> (spec component, values builder)
RELEASES: dict[str, tuple[str, Callable[[Spec], dict[str, Any]]]] = {
    "gpu-operator": ("gpu_operator", gpu_operator_values),
    "kueue": ("kueue", kueue_values),
}


def helm_releases(spec: Spec) -> list[dict[str, Any]]:
    releases = []
    for name, (component, values) in RELEASES.items():
        if getattr(spec.components, component).enabled:
            releases.append(
                {"name": name, "namespace": COMPONENT_NAMESPACES[component][0], **chart(name), "values": values(spec)}
            )
    return releases


def rendered_files(spec: Spec) -> dict[str, str]:
    """File name -> YAML text: one file per component, plus helm-releases.yaml."""
    files = {
        f"{component}.yaml": yaml.safe_dump_all(objects, sort_keys=False)
        for component, builder in OBJECT_BUILDERS.items()
        if (objects := builder(spec))
    }
    files["helm-releases.yaml"] = yaml.safe_dump(helm_releases(spec), sort_keys=False)
    return files


def all_objects(spec: Spec) -> list[dict[str, Any]]:
    return [obj for builder in OBJECT_BUILDERS.values() for obj in builder(spec)]
