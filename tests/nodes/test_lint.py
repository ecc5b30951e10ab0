"""The playbook and roles pass ansible-lint's strictest profile (production)."""

from __future__ import annotations

import subprocess

from modules.nodes.inventory import NODES_DIR


def test_ansible_lint_production_profile_is_clean():
    proc = subprocess.run(
        ["ansible-lint", "--profile", "production", "--nocolor", "site.yml", "roles"],
        cwd=NODES_DIR,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stderr + proc.stdout


def test_every_role_has_defaults_tasks_handlers_meta_and_a_readme():
    roles = sorted(p for p in (NODES_DIR / "roles").iterdir() if p.is_dir())
    assert [r.name for r in roles] == ["gpu_prereqs", "node_labels", "nvidia_container_toolkit", "nvidia_driver"]
    for role in roles:
        for part in ("defaults/main.yml", "tasks/main.yml", "handlers/main.yml", "meta/main.yml", "README.md"):
            assert (role / part).is_file(), f"{role.name}/{part}"
