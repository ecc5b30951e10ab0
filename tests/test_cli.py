"""The CLI as a user meets it: clear errors, exit codes, never a traceback for a user mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from modules.spec.loader import REPO_ROOT
from tests import specs


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
    document = specs.prod_like()
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
    assert proc.returncode == 3 and "is not up" in proc.stderr


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
        "jobset",
        "kueue",
        "kube-prometheus-stack",
        "opentelemetry-collector",
        "cert-manager",
        "envoy-gateway",
        "kserve-crd",
        "kserve",
        "milvus",
        "cloudnative-pg",
        "keda",
    }
    # As the program declares each Release: a pinned version, from a repository or an OCI chart URL.
    assert all(
        r["version"] and (r.get("repositoryOpts", {}).get("repo") or r["chart"].startswith("oci://")) for r in releases
    )


def test_down_of_a_protected_environment_refuses_without_a_traceback(tmp_path):
    proc = cnai("down", "prod", "--yes", env={"CNAI_HOME": str(tmp_path)})
    assert proc.returncode == 3  # refused at run time, not invalid input
    assert "prod is protected" in proc.stderr and "--allow-protected" in proc.stderr
    assert "Traceback" not in proc.stderr


def stacks_with_broken_files(tmp_path: Path) -> Path:
    """A good environment among files that are each broken differently."""
    (tmp_path / "Pulumi.kind.yaml").write_text(yaml.safe_dump(specs.stack_file(specs.kind_like())))
    (tmp_path / "Pulumi.alist.yaml").write_text("- a\n- b\n")
    (tmp_path / "Pulumi.bytes.yaml").write_bytes(b"config:\n  cnai:spec: {blueprint: caf\xe9}\n")
    (tmp_path / "Pulumi.c42.yaml").write_text("config: 42\n")
    (tmp_path / "Pulumi.deep.yaml").write_text("config: " + "[" * 5000)
    (tmp_path / "Pulumi.[red]x.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.walk.yaml").write_text("config:\n  cnai:spec: {blueprint: ../stacks/platform/Pulumi.prod}\n")
    return tmp_path


def test_spec_check_reports_each_broken_file_and_checks_the_rest(tmp_path):
    proc = cnai("spec", "check", env={"CNAI_STACKS": str(stacks_with_broken_files(tmp_path))})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "ok kind" in proc.stdout
    for broken in ("alist", "bytes", "c42", "deep", "walk"):
        assert f"Pulumi.{broken}.yaml" in proc.stderr or broken in proc.stderr
    assert "not UTF-8" in proc.stderr and "nested deeper than 64" in proc.stderr
    assert "'[red]x'" in proc.stderr, "markup in a file name is printed, not interpreted"


def test_envs_lists_broken_files_as_invalid(tmp_path):
    proc = cnai("envs", env={"CNAI_STACKS": str(stacks_with_broken_files(tmp_path))})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    rows = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if line.startswith("│")}
    assert "yes" in rows["kind"]
    assert set(rows) == {"kind", "alist", "bytes", "c42", "deep", "[red]x", "walk"}
    assert all("problem" in rows[name] for name in rows if name != "kind")


def test_bad_environment_names_are_refused_cleanly():
    for name in ("[red]x", "../prod", "a" * 300):
        proc = cnai("spec", "show", name)
        assert proc.returncode == 1 and "not a valid environment name" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr) < 1000
    assert "[red]x" in cnai("endpoints", "[red]x").stderr  # verbs that never load a spec check the name too


def test_exit_codes_tell_invalid_input_usage_and_runtime_apart(tmp_path):
    assert cnai("spec", "show", "staging").returncode == 1  # invalid input
    assert cnai("spec", "show", "--no-such-option").returncode == 2  # usage (typer)
    assert cnai("endpoints", "local", env={"CNAI_HOME": str(tmp_path)}).returncode == 3  # runtime: not up


def test_unexpected_exceptions_are_not_swallowed():
    from modules.cli import friendly

    @friendly
    def buggy(env: str = "local") -> None:
        raise KeyError("a bug")

    try:
        buggy(env="local")
    except KeyError:
        pass
    else:
        raise AssertionError("a bug must keep its traceback")


def test_smoke_sim_without_a_running_sim_says_how_to_start_it(tmp_path):
    proc = cnai("smoke", "sim", env={"CNAI_SIM_HOME": str(tmp_path / "sim"), "CNAI_SIM_PORT_BASE": "29900"})
    assert proc.returncode == 3
    assert "the sim is not up: run `cnai up sim` first" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_platform_is_an_option_of_the_sim_only():
    proc = cnai("up", "local", "--platform", "onprem")
    assert proc.returncode == 1
    assert "--platform is for the sim: `cnai up sim --platform onprem`" in proc.stderr
    assert "Traceback" not in proc.stderr
