"""`cnai render`: what `pulumi up` would apply for an environment, as reviewable YAML, read from the
platform program itself run under mocks (modules/k8s/declared.py): one file per component with the
objects it applies, helm-releases.yaml with each Release exactly as the program declares it (chart,
version, repository, namespace, values), and smoke-jobs.yaml with the Jobs `cnai smoke` submits.
Secrets show as a marker: their values exist only at deploy time. Keys come sorted (as `kubectl get -o
yaml` shows them): the engine receives inputs as protobuf Structs, which keep no order."""

from __future__ import annotations

import yaml

from modules.components.smoke_jobs import smoke_jobs
from modules.k8s.declared import GROUP, RELEASE, declared
from modules.spec import Spec


def rendered_files(spec: Spec) -> dict[str, str]:
    """File name -> YAML text."""
    program = declared(spec)
    files = {
        f"{component}.yaml": yaml.safe_dump_all([o for group in groups for o in group["objs"]])
        for component, groups in program.by_component(GROUP).items()
    }
    releases = [inputs for _component, inputs in program.in_install_order(RELEASE)]
    files["helm-releases.yaml"] = yaml.safe_dump(releases)
    if jobs := smoke_jobs(spec):
        files["smoke-jobs.yaml"] = yaml.safe_dump_all(jobs, sort_keys=False)
    return files
