"""What the registry's builders return for one environment: every Helm release the enabled components
install (with their values) and every object they author, by component. The platform program installs
exactly these (tests/k8s/test_platform.py); this view needs no Pulumi, for the analyses that read the
builders alone (the fit of requests to pools, the sim's dry runs and smoke). `cnai render` runs the
program itself (modules/k8s/render.py)."""

from __future__ import annotations

from typing import Any

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
    """Component name -> the objects it authors: the security baseline, each component's, the smoke Jobs."""
    files = {"security": security_objects(spec)}
    files |= {c.name: c.objects_for(spec) for c in COMPONENTS}
    files["smoke-jobs"] = smoke_jobs(spec)
    return {stem: objects for stem, objects in files.items() if objects}


def all_objects(spec: Spec) -> list[dict[str, Any]]:
    return [obj for objects in object_files(spec).values() for obj in objects]
