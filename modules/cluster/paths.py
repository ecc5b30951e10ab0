"""Where a cluster environment's lifecycle keeps its files (CNAI_HOME / CNAI_CLOUD_DIR override them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modules.cloud.layout import STACK_FILE, cloud_dir, stack_dir
from modules.project import environment_home
from modules.spec.loader import REPO_ROOT


@dataclass(frozen=True)
class ClusterPaths:
    env: str
    home: Path  # .cnai/<env>: lifecycle state, endpoints, kubeconfig, smoke manifests
    cloud: Path  # stacks/cloud: cdktn.out/ and outputs/
    platform: Path = REPO_ROOT / "stacks" / "platform"

    @classmethod
    def from_env(cls, env: str) -> ClusterPaths:
        return cls(env=env, home=environment_home(env), cloud=cloud_dir())

    @property
    def synth_out(self) -> Path:
        return self.cloud / "cdktn.out"

    @property
    def stack_dir(self) -> Path:
        return stack_dir(self.synth_out, self.env)

    @property
    def stack_file(self) -> Path:
        return self.stack_dir / STACK_FILE

    @property
    def outputs(self) -> Path:
        return self.cloud / "outputs"

    @property
    def state(self) -> Path:
        return self.home / "lifecycle.json"

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def endpoints(self) -> Path:
        return self.home / "endpoints.json"

    @property
    def kind_config(self) -> Path:
        return self.home / "kind-config.yaml"

    @property
    def smoke_manifests(self) -> Path:
        return self.home / "smoke.yaml"

    @property
    def reports(self) -> Path:
        return Path(os.environ.get("CNAI_REPORTS", REPO_ROOT / "reports")) / self.env

    @property
    def report(self) -> Path:
        """The last smoke report (JSON) of the environment."""
        return self.reports / "report.json"
