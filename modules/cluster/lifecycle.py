"""`cnai up / down / status` for cluster environments (kind, existing, eks, gke).

`up` is a list of named steps. Each finished step is recorded in .cnai/<env>/lifecycle.json with
the hash of the spec it ran for; re-running `up` after a failure skips the steps already done for
the same spec and continues at the failed one. Checks (doctor, readiness, smoke) always run again.
Everything that changes infrastructure is idempotent on its own (tofu apply, pulumi up, kind create
after `kind get clusters`), so a resumed or repeated `up` never duplicates a resource.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from pydantic import ValidationError
from rich.console import Console
from urllib3.exceptions import HTTPError

from modules.cloud.outputs import check_matches_spec, kubeconfig, outputs_path, parse_outputs
from modules.cluster import apply as kube
from modules.cluster.doctor import diagnose, failed
from modules.cluster.kind import kind_cluster_name, kind_config
from modules.cluster.paths import ClusterPaths
from modules.cluster.smoke import cluster_smoke
from modules.cluster.tools import Shell
from modules.components.catalog import ready_namespaces
from modules.components.smoke_jobs import smoke_manifests
from modules.endpoints import Endpoints
from modules.errors import CnaiError
from modules.spec import Spec
from modules.spec.models import CLOUD_TARGETS
from modules.versions import pinned_versions

TOFU_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
PULUMI_ENV = {"PULUMI_SKIP_UPDATE_CHECK": "true"}
PLAN_FILE = "cnai.tfplan"
# Components whose Deployments must be Available before the platform counts as ready.
READY_TIMEOUT = "600s"
SMOKE_TIMEOUT = 1800.0  # seconds for every smoke Job to finish


class LifecycleError(CnaiError):
    """A step failed or was refused; what was done so far is recorded, `cnai up` resumes here."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step


Confirm = Callable[[str], bool]


@dataclass(frozen=True)
class Step:
    name: str
    action: Callable[[], None]
    check: bool = False  # a verification: always runs, never skipped on resume


def failure_lines(proc: subprocess.CompletedProcess[str]) -> str:
    """What a failed tool said about the failure: its error lines (Pulumi prints them on stdout, between
    its progress and its summary, and its warnings on stderr), else the last lines it printed."""
    lines = [line for line in f"{proc.stdout}\n{proc.stderr}".splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return "\n".join(errors[-10:] or lines[-15:])


def spec_hash(spec: Spec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]


@dataclass
class Lifecycle:
    spec: Spec
    paths: ClusterPaths
    shell: Shell = field(default_factory=Shell)
    console: Console = field(default_factory=Console)
    confirm: Confirm = lambda question: False
    # The cluster's API from its kubeconfig, and the smoke run over it (stand-in tests replace the run:
    # modules.cluster.smoke itself is proven against the sim's real control plane).
    connect: Callable[[Path], Any] = kube.client
    smoke_timeout: float = SMOKE_TIMEOUT

    def smoke(self, dyn: Any, spec: Spec, manifests: list[dict[str, Any]], out: Path) -> dict[str, Any]:
        return cluster_smoke(dyn, spec, manifests, out, self.console, self.smoke_timeout)

    # --- state -------------------------------------------------------------------------------
    def load_state(self) -> dict[str, Any]:
        return json.loads(self.paths.state.read_text()) if self.paths.state.is_file() else {}

    def _save_state(self, state: dict[str, Any]) -> None:
        self.paths.home.mkdir(parents=True, exist_ok=True)
        self.paths.state.write_text(json.dumps(state, indent=2) + "\n")

    # --- up ----------------------------------------------------------------------------------
    def _cluster_steps(self) -> list[Step]:
        if self.spec.cluster.target in CLOUD_TARGETS:
            return [
                Step("synth", self._synth),
                Step("tofu-init", self._tofu_init),
                Step("tofu-apply", self._tofu_apply),
                Step("cloud-outputs", self._cloud_outputs),
            ]
        if self.spec.cluster.target == "existing":
            # Someone else's cluster (bare-metal nodes joined after `cnai nodes apply`): only its credentials.
            return [Step("kube-context", self._kube_context)]
        return [Step("kind-cluster", self._kind_cluster)]

    def up_steps(self) -> list[Step]:
        return [
            Step("doctor", self._doctor, check=True),
            *self._cluster_steps(),
            Step("pulumi-stack", self._pulumi_stack),
            Step("pulumi-up", self._pulumi_up),
            Step("endpoints", self._endpoints),
            Step("wait-ready", self._wait_ready, check=True),
            Step("smoke", self._smoke, check=True),
        ]

    def up(self) -> Path:
        """Runs (or resumes) every step; returns the smoke report's path."""
        current = spec_hash(self.spec)
        state = self.load_state()
        done: list[str] = state.get("done", []) if state.get("spec_hash") == current else []
        steps = self.up_steps()
        for number, step in enumerate(steps, 1):
            label = f"[{number}/{len(steps)}] {step.name}"
            if step.name in done and not step.check:
                self.console.print(f"{label} [dim]done before, skipped[/]")
                continue
            self.console.print(f"[bold]{label}[/]")
            began = time.monotonic()
            try:
                step.action()
            except CnaiError:
                self._save_state({"spec_hash": current, "done": done, "failed": step.name})
                raise
            if step.name not in done:
                done.append(step.name)
            self._save_state({"spec_hash": current, "done": done, "updated": time.time()})
            self.console.print(f"{label} [green]ok[/] ({time.monotonic() - began:.1f} s)")
        return self.paths.report

    def _run(self, step: str, args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        proc = self.shell.run(args, cwd=cwd, env=env)
        if proc.returncode != 0:
            raise LifecycleError(step, f"`{' '.join(args[:3])} …` exited {proc.returncode}\n{failure_lines(proc)}")
        return proc.stdout

    def _doctor(self) -> None:
        findings = diagnose(self.spec.name, self.shell, self.paths)
        for finding in findings:
            if finding.level != "ok":
                self.console.print(f"  {finding.level}: {finding.check}: {finding.detail}  {finding.fix}")
        if failed(findings):
            problems = "; ".join(f"{f.check}: {f.detail}" for f in findings if f.level == "fail")
            raise LifecycleError("doctor", f"{problems} (details: cnai doctor {self.spec.name})")

    def _synth(self) -> None:
        from modules.cloud.stack import synth

        synth(self.spec, self.paths.synth_out)

    def _tofu(self) -> str:
        return "tofu" if self.shell.which("tofu") else "terraform"

    def _tofu_init(self) -> None:
        self._run("tofu-init", [self._tofu(), "init", "-input=false"], self.paths.stack_dir, TOFU_ENV)

    def _tofu_apply(self) -> None:
        tofu, where = self._tofu(), self.paths.stack_dir
        plan = self._run("tofu-apply", [tofu, "plan", "-input=false", f"-out={PLAN_FILE}"], where, TOFU_ENV)
        self.console.print(plan.strip()[-3000:], markup=False, highlight=False)
        question = f"Apply this plan to {self.spec.name} ({self.spec.cluster.target}, {self.spec.cluster.region})?"
        if not self.confirm(question):
            raise LifecycleError("tofu-apply", "plan not confirmed: nothing was applied (`--yes` skips the question)")
        self._run("tofu-apply", [tofu, "apply", "-input=false", PLAN_FILE], where, TOFU_ENV)

    def _cloud_outputs(self) -> None:
        document = json.loads(
            self._run("cloud-outputs", [self._tofu(), "output", "-json"], self.paths.stack_dir, TOFU_ENV)
        )
        outputs = parse_outputs(document)
        check_matches_spec(self.spec, outputs)
        target = outputs_path(self.spec.name, self.paths.outputs)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2) + "\n")
        self._write_private(self.paths.kubeconfig, yaml.safe_dump(kubeconfig(self.spec, outputs), sort_keys=False))

    def _kube_context(self) -> None:
        context = self.spec.cluster.kube_context
        if not context:
            raise LifecycleError("kube-context", "cluster.kube_context is not set: which cluster is it?")
        view = ["kubectl", "config", "view", "--minify", "--flatten", f"--context={context}"]
        self._write_private(self.paths.kubeconfig, self._run("kube-context", view))

    def _kind_cluster(self) -> None:
        name = kind_cluster_name(self.spec)
        existing = self._run("kind-cluster", ["kind", "get", "clusters"]).split()
        config = self.paths.kind_config
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(kind_config(self.spec), sort_keys=False))
        if name in existing:
            self.console.print(f"  kind cluster {name} exists")
            args = ["kind", "export", "kubeconfig", "--name", name, "--kubeconfig", str(self.paths.kubeconfig)]
        else:
            args = ["kind", "create", "cluster", "--name", name, "--config", str(config)]
            args += ["--kubeconfig", str(self.paths.kubeconfig), "--wait", "120s"]
        self._run("kind-cluster", args)

    def platform_env(self) -> dict[str, str]:
        """What the Pulumi program and kubectl see: the cluster's kubeconfig and the cloud outputs."""
        return PULUMI_ENV | {"KUBECONFIG": str(self.paths.kubeconfig), "CNAI_CLOUD_DIR": str(self.paths.cloud)}

    def _pulumi_stack(self) -> None:
        args = ["pulumi", "stack", "select", self.spec.name, "--create", "--non-interactive"]
        self._run("pulumi-stack", args, self.paths.platform, self.platform_env())

    def _pulumi_up(self) -> None:
        args = ["pulumi", "up", "--stack", self.spec.name, "--yes", "--non-interactive", "--skip-preview"]
        self._run("pulumi-up", args, self.paths.platform, self.platform_env())

    def _endpoints(self) -> None:
        args = ["pulumi", "stack", "output", "endpoints", "--json", "--stack", self.spec.name]
        try:
            endpoints = Endpoints.model_validate_json(
                self._run("endpoints", args, self.paths.platform, self.platform_env())
            )
        except ValidationError as error:
            raise LifecycleError(
                "endpoints", f"the stack's `endpoints` output is not an endpoints document: {error}"
            ) from None
        self.paths.endpoints.write_text(endpoints.model_dump_json(indent=2) + "\n")

    def _kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--kubeconfig", str(self.paths.kubeconfig), *args]

    def _wait_ready(self) -> None:
        for namespace in ready_namespaces(self.spec):
            wait = ["wait", "--for=condition=Available", "deployment", "--all", "-n", namespace]
            self._run("wait-ready", self._kubectl(*wait, f"--timeout={READY_TIMEOUT}"))

    def smoke_manifests(self) -> list[dict[str, Any]]:
        return smoke_manifests(self.spec, self.paths.endpoints.read_text())

    def run_smoke(self) -> None:
        """`cnai smoke ENV` on a cluster: the endpoints of the deployed stack, then the suite."""
        self._endpoints()
        self._smoke()

    def _smoke(self) -> None:
        """The suite Job and every pool's GPU Jobs through the cluster's API (modules.cluster.smoke): each
        Job's admission, placement and result, and the suite's own report, in one report."""
        if not self.spec.teams:
            raise LifecycleError("smoke", "the smoke suite runs in a team's namespace: the spec has no team")
        manifests = self.smoke_manifests()
        self.paths.smoke_manifests.write_text(yaml.safe_dump_all(manifests, sort_keys=False))  # for review
        try:
            report = self.smoke(self.connect(self.paths.kubeconfig), self.spec, manifests, self.paths.reports)
        except (ApiException, ConfigException, HTTPError, kube.ApplyError, TimeoutError, OSError) as exc:
            raise LifecycleError("smoke", f"the smoke run could not complete: {exc}") from exc
        summary = report["summary"]
        self.console.print(
            f"  smoke: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped"
        )
        if summary["failed"]:
            failed = [c["name"] for c in report["checks"] if c["outcome"] == "failed"]
            raise LifecycleError(
                "smoke", f"{summary['failed']} check(s) failed ({', '.join(failed[:5])}): see {self.paths.reports}"
            )

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        os.chmod(path, 0o600)
        path.write_text(text)

    # --- down --------------------------------------------------------------------------------
    def down(self, *, allow_protected: bool) -> None:
        spec = self.spec
        if spec.cluster.protect and not allow_protected:
            raise LifecycleError(
                "down",
                f"{spec.name} is protected (cluster.protect: true): nothing destroyed. "
                f"If you really mean it: cnai down {spec.name} --allow-protected",
            )
        what = f"the platform (Pulumi stack {spec.name})"
        if spec.cluster.target in CLOUD_TARGETS:
            what += f", then the {spec.cluster.target.upper()} cluster cnai-{spec.name}, its network and its buckets"
        elif spec.cluster.target == "kind":
            what += f", then the kind cluster {kind_cluster_name(spec)}"
        if not self.confirm(f"Destroy {spec.name}: {what}?"):
            raise LifecycleError("down", "not confirmed: nothing destroyed")
        destroy = ["pulumi", "destroy", "--stack", spec.name, "--yes", "--non-interactive", "--skip-preview"]
        self._run("pulumi-destroy", destroy, self.paths.platform, self.platform_env())
        if spec.cluster.target in CLOUD_TARGETS:
            if not self.paths.stack_file.is_file():
                self._synth()
            self._tofu_init()
            self._run(
                "tofu-destroy",
                [self._tofu(), "destroy", "-input=false", "-auto-approve"],
                self.paths.stack_dir,
                TOFU_ENV,
            )
            outputs_path(spec.name, self.paths.outputs).unlink(missing_ok=True)
        elif spec.cluster.target == "kind":
            self._run("kind-delete", ["kind", "delete", "cluster", "--name", kind_cluster_name(spec)])
        for leftover in (self.paths.state, self.paths.endpoints, self.paths.kubeconfig):
            leftover.unlink(missing_ok=True)

    # --- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        state = self.load_state()
        args = ["pulumi", "stack", "output", "bom", "--json", "--stack", self.spec.name]
        proc = (
            self.shell.run(args, cwd=self.paths.platform, env=self.platform_env())
            if self.shell.which("pulumi")
            else None
        )
        deployed = (
            json.loads(proc.stdout) if proc is not None and proc.returncode == 0 and proc.stdout.strip() else None
        )
        current = pinned_versions()
        drift = (
            None
            if deployed is None
            else {
                key: {"deployed": deployed.get(key), "bom": value}
                for key, value in current.items()
                if deployed.get(key) != value
            }
        )
        return {
            "environment": self.spec.name,
            "target": self.spec.cluster.target,
            "steps_done": state.get("done", []),
            "failed_step": state.get("failed"),
            "spec_changed_since_up": bool(state) and state.get("spec_hash") != spec_hash(self.spec),
            "deployed": deployed is not None,
            "drift": drift,
            "last_smoke": json.loads(self.paths.report.read_text())["summary"] if self.paths.report.is_file() else None,
        }
