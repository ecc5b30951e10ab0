"""`cnai render`: every object cnai authors and every Helm release it installs, as reviewable YAML,
read from the component registry as the Pulumi program reads it."""

from __future__ import annotations

from typing import Any

import yaml

from modules.components.catalog import COMPONENTS
from modules.components.security import security_objects
from modules.components.smoke_jobs import smoke_jobs
from modules.spec import Spec
from modules.versions import chart


def helm_releases(spec: Spec) -> list[dict[str, Any]]:
    """Every release the enabled components install, with the values the program passes."""
    return [
        {"name": r.chart, "namespace": c.namespace, **chart(r.chart), "values": r.values(spec)}
        for c in COMPONENTS
        for r in c.releases_for(spec)
    ]


def object_files(spec: Spec) -> dict[str, list[dict[str, Any]]]:
    """File stem -> the objects in it: the security baseline, each component's, the smoke Jobs."""
    files = {"security": security_objects(spec)}
    files |= {c.name: c.objects_for(spec) for c in COMPONENTS}
    files["smoke-jobs"] = smoke_jobs(spec)
    return {stem: objects for stem, objects in files.items() if objects}


def rendered_files(spec: Spec) -> dict[str, str]:
    """File name -> YAML text: one file per component, plus helm-releases.yaml."""
    files = {
        f"{stem}.yaml": yaml.safe_dump_all(objects, sort_keys=False) for stem, objects in object_files(spec).items()
    }
    files["helm-releases.yaml"] = yaml.safe_dump(helm_releases(spec), sort_keys=False)
    return files


def all_objects(spec: Spec) -> list[dict[str, Any]]:
    return [obj for objects in object_files(spec).values() for obj in objects]
