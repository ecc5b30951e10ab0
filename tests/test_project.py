"""cnai works on the project checkout it is run in: a fork's blueprints and environments, wherever
the package was installed from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from modules.project import PACKAGE_CHECKOUT, project_root
from modules.spec.loader import REPO_ROOT


def make_fork(root: Path) -> Path:
    """A project folder of its own: the shipped blueprints and stacks plus a forked blueprint and an env on it."""
    shutil.copytree(REPO_ROOT / "blueprints", root / "blueprints")
    shutil.copytree(REPO_ROOT / "stacks" / "platform", root / "stacks" / "platform")
    shutil.copy(root / "blueprints" / "minimal.yaml", root / "blueprints" / "forked.yaml")
    stack = yaml.safe_load((root / "stacks" / "platform" / "Pulumi.local.yaml").read_text())
    stack["config"]["cnai:spec"]["blueprint"] = "forked"
    (root / "stacks" / "platform" / "Pulumi.mine.yaml").write_text(yaml.safe_dump(stack))
    return root


def test_project_root_is_the_nearest_project_above_the_working_directory(tmp_path: Path):
    fork = make_fork(tmp_path / "fork")
    (fork / "docs" / "deep").mkdir(parents=True)
    assert project_root(fork / "docs" / "deep") == fork
    assert project_root(fork) == fork


def test_outside_any_project_the_installed_checkout_is_used(tmp_path: Path):
    assert project_root(tmp_path) == PACKAGE_CHECKOUT


def test_installed_cnai_lists_the_forks_blueprint_and_environment(tmp_path: Path):
    fork = make_fork(tmp_path / "fork")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNAI_")} | {"COLUMNS": "200"}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("cnai")), "envs"],
        cwd=fork / "stacks",
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "forked" in proc.stdout
    assert any(line.split("│")[1].strip() == "mine" for line in proc.stdout.splitlines() if line.count("│") > 2)
