"""The real Pulumi engine for the sim: the platform program (stacks/platform) deployed by `pulumi up`.

What a cluster user installs with Pulumi's installer, the sim builds from Go modules (modules/gobuild.py:
the CLI, the Python language host, the Kubernetes provider). This module puts them on PATH under the
names the CLI looks for, and gives the lifecycle (modules/cluster/lifecycle.py) a project whose program
is stacks/platform itself, with the sim's settings:
- a file backend and a passphrase secrets provider under .cnai/sim/pulumi (the passphrase generated
  once, 0600), so no Pulumi account or cloud KMS is needed and the state holds no plaintext secret;
- `cnai:charts`: the pinned charts from a local folder (no chart repository can be reached here);
- `cnai:helm_postrender`: modules/sim/postrender.py, which leaves to the sim what it serves itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from kubernetes.dynamic.exceptions import NotFoundError
from rich.console import Console

from modules import gobuild as build
from modules.cluster import apply as kube
from modules.cluster.lifecycle import Lifecycle, Step
from modules.cluster.paths import ClusterPaths
from modules.cluster.tools import Shell
from modules.errors import CnaiError
from modules.sim import charts
from modules.sim.servers import SimPaths
from modules.spec import Spec, validate
from modules.spec.loader import REPO_ROOT, merged_document, read_environment

PROGRAM = REPO_ROOT / "stacks" / "platform"
# The lifecycle's steps on the sim (SimLifecycle says why the others are left out).
SIM_STEPS = ("pulumi-stack", "pulumi-up", "endpoints", "wait-ready")
CONTEXT = "cnai-sim"  # the context of the sim's kubeconfig


class SimLifecycle(Lifecycle):
    """The cluster lifecycle on the sim: its own steps, recorded and resumed as on any cluster
    (`Lifecycle.up`), without three the sim answers otherwise: the cluster step (the sim's own `up`
    made the cluster and its kubeconfig), the doctor (its NetworkPolicy check fails here, and says so
    truthfully: no CNI runs to enforce them) and the smoke run (kwok runs no container, so the GPU
    results never come; `cnai smoke sim` is the sim's smoke run)."""

    def up_steps(self) -> list[Step]:
        return [step for step in super().up_steps() if step.name in SIM_STEPS]


class SimPulumi:
    """The sim's Pulumi workspace: tools on PATH, engine settings, the project and its stack files."""

    def __init__(self, paths: SimPaths) -> None:
        self.paths = paths
        self.root = paths.pulumi

    @property
    def project(self) -> Path:
        """A project folder whose Pulumi.yaml is stacks/platform's with `main` pointing there: the same
        program and project name (so the same URNs); stack files stay out of the checkout."""
        return self.root / "project"

    @property
    def tools(self) -> Path:
        return self.root / "bin"

    def prepare(self) -> None:
        """Tools, passphrase, project and Helm post-renderer, made once (cheap to check)."""
        build.ensure_built(only=list(build.PULUMI_TOOLS))
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.tools.mkdir(exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        for name in build.PULUMI_TOOLS:
            self._place(name)
        if not self.passphrase_file.is_file():
            _write_private(self.passphrase_file, secrets.token_urlsafe(32))
        self.project.mkdir(exist_ok=True)
        project = yaml.safe_load((PROGRAM / "Pulumi.yaml").read_text())
        project["main"] = os.path.relpath(PROGRAM, self.project)
        (self.project / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
        postrender = self.root / "helm-postrender"
        command = f'exec "{sys.executable}" -m modules.sim.postrender "{self.paths.installed_objects}"\n'
        postrender.write_text(f"#!/bin/sh\n# Helm post-renderer of the sim (modules/sim/postrender.py)\n{command}")
        postrender.chmod(0o700)

    def _place(self, name: str) -> None:
        """A tool under its plain name: linked, except the language host, which looks for its exec
        script beside its own resolved path, so it is copied next to the script's link."""
        target, built = self.tools / name, build.path_of(name)
        if name == "pulumi-language-python":
            if not target.is_file() or target.stat().st_size != built.stat().st_size:
                shutil.copy2(built, target)
            return
        if not (target.is_symlink() and target.resolve() == built.resolve()):
            target.unlink(missing_ok=True)
            target.symlink_to(built)

    @property
    def passphrase_file(self) -> Path:
        return self.root / "passphrase"

    def env(self) -> dict[str, str]:
        """What `pulumi` runs with on the sim (the lifecycle adds KUBECONFIG: the provider records it)."""
        return {
            "PATH": f"{self.tools}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(self.root / "home"),
            "PULUMI_BACKEND_URL": (self.root / "state").as_uri(),
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(self.passphrase_file),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",  # every plugin is built, none downloaded
            # The language host predates the CLI and ignores Pulumi.yaml's runtime options
            # (modules/versions.yaml sim: pulumi-language-python): name the interpreter cnai runs in.
            "PULUMI_PYTHON_CMD": sys.executable,
        }

    def stack_config(self, stack: str, document: dict[str, Any]) -> Path:
        """Write the stack's settings (the spec document and the sim's chart settings) into its stack
        file, keeping what Pulumi added to it (the passphrase's salt, secrets set with `config set`)."""
        path = self.project / f"Pulumi.{stack}.yaml"
        existing = yaml.safe_load(path.read_text()) if path.is_file() else {}
        existing.setdefault("config", {}).update(
            {
                "cnai:spec": document,
                "cnai:charts": str(charts.installable_charts(self.paths.installable_charts)),
                "cnai:helm_postrender": str(self.root / "helm-postrender"),
            }
        )
        path.write_text(yaml.safe_dump(existing, sort_keys=False))
        return path

    def lifecycle(self, spec: Spec, home: Path, console: Console) -> SimLifecycle:
        """The cluster lifecycle of `spec` (an existing cluster: the sim, by its kubeconfig) with the real
        engine and kubectl on PATH."""
        paths = ClusterPaths(env=spec.name, home=home, cloud=home / "cloud", platform=self.project)
        paths.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.paths.kubeconfig, paths.kubeconfig)
        return SimLifecycle(spec, paths, shell=Shell(env=self.env()), console=console)


def existing_cluster_document(env: str) -> dict[str, Any]:
    """The `cnai:spec` document of an environment on an existing cluster, its context pointed at the sim."""
    document = read_environment(env)
    spec = validate(env, merged_document(env, document))
    if spec.cluster.target not in ("existing", "kind"):
        raise CnaiError(
            f"sim platform: {env} is a {spec.cluster.target} environment; the sim deploys the platform of an "
            "environment on an existing cluster (cluster.target existing or kind)"
        )
    return {**document, "cluster": {**document.get("cluster", {}), "target": "existing", "kube_context": CONTEXT}}


def deploy_environment(paths: SimPaths, env: str, console: Console) -> SimLifecycle:
    """`cnai up sim --platform ENV`: ENV's platform deployed on the running sim by the real engine."""
    document = existing_cluster_document(env)
    pulumi = SimPulumi(paths)
    pulumi.prepare()
    pulumi.stack_config(env, document)
    lifecycle = pulumi.lifecycle(validate(env, merged_document(env, document)), paths.home / "platform" / env, console)
    deploy(lifecycle)
    return lifecycle


def deploy(lifecycle: Lifecycle, fresh: bool = False) -> None:
    """`pulumi up` of the platform, its endpoints, and its Deployments Available: the lifecycle's steps,
    resumed where a previous run stopped, or every step again when `fresh` (a new `cnai up`)."""
    if fresh:
        lifecycle.paths.state.unlink(missing_ok=True)
    lifecycle.up()


def pulumi_command(lifecycle: Lifecycle, *args: str) -> subprocess.CompletedProcess[str]:
    """`pulumi ARGS` on the lifecycle's stack, with the environment its steps run with (the provider
    records the kubeconfig's path: another one would be a change)."""
    command = ["pulumi", *args, "--stack", lifecycle.spec.name, "--non-interactive"]
    return lifecycle.shell.run(command, cwd=lifecycle.paths.platform, env=lifecycle.platform_env())


def destroy(lifecycle: Lifecycle) -> None:
    """`cnai down`'s path (the lifecycle's `pulumi destroy`), the question answered yes."""
    dataclasses.replace(lifecycle, confirm=lambda _question: True).down(allow_protected=False)


def changes_of_last_update(lifecycle: Lifecycle) -> dict[str, int]:
    """Operation -> resources, of the stack's last update (`same` only: it changed nothing)."""
    history = pulumi_command(lifecycle, "stack", "history", "--json")
    if history.returncode != 0:
        raise CnaiError(f"pulumi stack history failed: {history.stderr.strip()[-500:]}")
    return json.loads(history.stdout)[0]["resourceChanges"]


# Bookkeeping kinds the control plane keeps changing by itself.
UNCOUNTED_KINDS = {"Event", "Lease", "EndpointSlice", "Endpoints", "ComponentStatus"}


def cluster_object_keys(dyn: Any) -> set[str]:
    """group/kind/namespace/name of every object of every listable kind (bookkeeping kinds left out)."""
    keys = set()
    for resource in dyn.resources.search():
        if resource.kind in UNCOUNTED_KINDS or resource.kind.endswith("List") or "list" not in (resource.verbs or []):
            continue
        if getattr(resource, "subresource", None) or "/" in resource.name:
            continue
        try:
            items = resource.get().to_dict()["items"]
        except Exception:  # a kind the admin may not list (or a group mid-removal)
            continue
        keys |= {
            f"{resource.group}/{resource.kind}/{i['metadata'].get('namespace', '')}/{i['metadata']['name']}"
            for i in items
        }
    return keys


def leftovers(dyn: Any, before: set[str], timeout_s: float = 180) -> list[str]:
    """What `pulumi destroy` left of the platform: objects that were not in the cluster before the first
    `up`, once every namespace has finished terminating (the goal: none)."""
    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")

    def terminated() -> bool:
        try:
            return not [n for n in namespaces.get().to_dict()["items"] if n["status"].get("phase") == "Terminating"]
        except NotFoundError:
            return False

    kube.wait_for(terminated, timeout_s, "namespaces deleted")
    return sorted(cluster_object_keys(dyn) - before)


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)
