"""The external CLIs a cluster environment needs, how to find their versions, and how cnai runs them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from modules.spec import Spec
from modules.spec.models import CLOUD_TARGETS
from modules.versions import binary


@dataclass(frozen=True)
class Tool:
    name: str
    version_args: tuple[str, ...]
    minimum: str | None  # oldest accepted release (binaries in the BOM), None: any
    install: str  # one line: how to get it


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("pulumi", ("version",), binary("pulumi"), "curl -fsSL https://get.pulumi.com | sh"),
        Tool("tofu", ("version",), binary("opentofu"), "https://opentofu.org/docs/intro/install/"),
        Tool("terraform", ("version",), binary("terraform"), "https://developer.hashicorp.com/terraform/install"),
        Tool("kubectl", ("version", "--client"), binary("kubectl"), "https://kubernetes.io/docs/tasks/tools/"),
        Tool("kind", ("version",), binary("kind"), "go install sigs.k8s.io/kind@latest (or the release binary)"),
        Tool("docker", ("--version",), None, "kind runs its nodes as containers: install Docker or Podman"),
        Tool(
            "aws", ("--version",), None, "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
        ),
        Tool("gcloud", ("--version",), None, "https://cloud.google.com/sdk/docs/install"),
        Tool(
            "gke-gcloud-auth-plugin",
            ("--version",),
            None,
            "gcloud components install gke-gcloud-auth-plugin",
        ),
    )
}


def required_tools(spec: Spec) -> list[tuple[str, ...]]:
    """Each entry is a set of alternatives (tofu or terraform); one of them must be present."""
    needed: list[tuple[str, ...]] = [("pulumi",), ("kubectl",)]
    target = spec.cluster.target
    if target in CLOUD_TARGETS:
        needed.append(("tofu", "terraform"))
    if target == "eks":
        needed.append(("aws",))
    if target == "gke":
        needed += [("gcloud",), ("gke-gcloud-auth-plugin",)]
    if target == "kind":
        needed += [("kind",), ("docker",)]
    return needed


VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, ...] | None:
    match = VERSION.search(text)
    return tuple(int(part) for part in match.groups() if part is not None) if match else None


def at_least(found: tuple[int, ...], minimum: str) -> bool:
    wanted = tuple(int(part) for part in minimum.split("."))
    return found[: len(wanted)] >= wanted


@dataclass
class Shell:
    """Runs the external CLIs; every command is recorded so `up` can say what it ran."""

    env: dict[str, str] = field(default_factory=dict)
    ran: list[list[str]] = field(default_factory=list)

    def which(self, name: str) -> str | None:
        """Where `name` is on the PATH the commands run with (this shell's own, where it sets one)."""
        return shutil.which(name, path=self.env.get("PATH", os.environ.get("PATH")))

    def run(
        self,
        args: list[str],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        capture: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.ran.append(list(args))
        return subprocess.run(
            args,
            cwd=cwd,
            env=os.environ | self.env | (env or {}),
            capture_output=capture,
            text=True,
            check=False,
            timeout=timeout,
        )

    def version(self, tool: Tool) -> tuple[int, ...] | None:
        try:
            proc = self.run([tool.name, *tool.version_args], timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return parse_version(proc.stdout + proc.stderr) if proc.returncode == 0 else None
