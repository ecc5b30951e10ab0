"""The CLI as a user meets it: clear errors, exit codes, never a traceback for a user mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from modules.spec.loader import REPO_ROOT
from tests.conftest import env_document


def cnai(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "modules.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ | (env or {}) | {"COLUMNS": "200"},
        cwd=REPO_ROOT,
    )


def broken_stacks(tmp_path: Path) -> Path:
    document = env_document("prod")
    document.pop("name")
    document["gpu_pools"][1]["sharing"]["mig_profile"] = "9g.99gb"
    document["teams"][0]["gpu_quotas"][0]["pool"] = "nope"
    document["components"]["mlflow"]["admin_password"] = "plaintext!"
    (tmp_path / "Pulumi.broken.yaml").write_text(yaml.safe_dump({"config": {"cnai:spec": document}}))
    return tmp_path


def test_spec_check_passes_for_every_shipped_environment():
    proc = cnai("spec", "check")
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[-1] for line in proc.stdout.splitlines()] == ["dev", "kind", "local", "onprem", "prod"]


def test_spec_check_lists_problems_with_paths_and_no_traceback(tmp_path):
    proc = cnai("spec", "check", "broken", env={"CNAI_STACKS": str(broken_stacks(tmp_path))})
    assert proc.returncode == 1
    assert "components.mlflow.admin_password" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    # Structural errors come first; the semantic ones show once the structure is fixed.
    assert "plaintext" in proc.stderr


def test_semantic_problems_are_all_listed(tmp_path):
    stacks = broken_stacks(tmp_path)
    path = stacks / "Pulumi.broken.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"]["cnai:spec"]["components"]["mlflow"]["admin_password"] = {"generate": True}
    path.write_text(yaml.safe_dump(data))
    proc = cnai("spec", "check", "broken", env={"CNAI_STACKS": str(stacks)})
    assert proc.returncode == 1
    assert "gpu_pools[1].sharing.mig_profile" in proc.stderr and "9g.99gb" in proc.stderr
    assert "teams[0].gpu_quotas[0].pool" in proc.stderr


def test_unknown_environment_names_the_known_ones():
    proc = cnai("spec", "show", "staging")
    assert proc.returncode == 1
    assert "dev, kind, local, onprem, prod" in proc.stderr and "Traceback" not in proc.stderr


def test_spec_show_prints_the_merged_spec():
    proc = cnai("spec", "show", "dev")
    assert proc.returncode == 0
    shown = yaml.safe_load(proc.stdout)
    assert shown["gpu_pools"][0]["accelerator"] == "nvidia-a10g"
    assert shown["components"]["kueue"]["enabled"] is True  # from the reference blueprint


def test_invalid_yaml_is_a_clear_error(tmp_path):
    (tmp_path / "Pulumi.bad.yaml").write_text("config: {cnai:spec: [unclosed\n")
    proc = cnai("spec", "check", "bad", env={"CNAI_STACKS": str(tmp_path)})
    assert proc.returncode == 1 and "not valid YAML" in proc.stderr


def test_synth_writes_the_stack_and_says_what_to_run_next(tmp_path):
    proc = cnai("synth", "prod", "--out", str(tmp_path / "out"), "--local-state", str(tmp_path / "state"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "stacks" / "prod" / "cdk.tf.json").is_file()
    assert "tofu -chdir=" in proc.stdout and "Traceback" not in proc.stderr


def test_synth_of_an_environment_without_a_cloud_stack_is_a_clear_error(tmp_path):
    proc = cnai("synth", "kind", "--out", str(tmp_path))
    assert proc.returncode == 1 and "kind has no cloud stack: cluster.target is kind" in proc.stderr
    assert not any(tmp_path.iterdir()), "nothing written"


def test_endpoints_of_an_environment_that_is_down(tmp_path):
    proc = cnai("endpoints", "local", env={"CNAI_HOME": str(tmp_path / "nowhere")})
    assert proc.returncode == 1 and "is not up" in proc.stderr


def test_render_writes_one_file_per_component(tmp_path):
    proc = cnai("render", "prod", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "helm-releases.yaml",
        "kserve.yaml",
        "kueue.yaml",
        "mlflow.yaml",
        "observability.yaml",
        "security.yaml",
        "smoke-jobs.yaml",
    ]
    releases = yaml.safe_load((tmp_path / "helm-releases.yaml").read_text())
    assert {r["name"] for r in releases} == {
        "gpu-operator",
        "kueue",
        "kube-prometheus-stack",
        "opentelemetry-collector",
        "cert-manager",
        "envoy-gateway",
        "kserve-crd",
        "kserve",
        "milvus",
        "cloudnative-pg",
    }
    assert all(r["version"] and r["repo"] for r in releases)


def test_down_of_a_protected_environment_refuses_without_a_traceback(tmp_path):
    proc = cnai("down", "prod", "--yes", env={"CNAI_HOME": str(tmp_path)})
    assert proc.returncode == 1
    assert "prod is protected" in proc.stderr and "--allow-protected" in proc.stderr
    assert "Traceback" not in proc.stderr
