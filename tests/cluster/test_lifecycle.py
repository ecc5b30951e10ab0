"""`cnai up / down / status` for cluster environments, against recording stand-ins for pulumi, tofu,
kind and kubectl (none can run here: no cloud, no API server, no Pulumi engine). The spec, the cdktn
synth, the outputs handed over, the endpoints and the smoke manifests are real."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modules.cloud.outputs import load_outputs
from modules.cluster.lifecycle import Lifecycle, LifecycleError, failure_lines
from modules.cluster.paths import ClusterPaths
from tests.cluster.conftest import SMOKE_REPORT, built, healthy_answers


def lifecycle(env: str, confirm: bool = True, smoke_report: dict[str, Any] | None = None) -> Lifecycle:
    """The real lifecycle; its smoke run is a stand-in that records what it was given and writes the
    report it is told to (modules.cluster.smoke itself runs against the sim: tests/sim/test_smoke_run.py)."""
    life = Lifecycle(
        built(env), ClusterPaths.from_env(env), confirm=lambda question: confirm, connect=lambda path: path
    )
    runs: list[dict[str, Any]] = []

    def smoke(api: Any, spec: Any, manifests: list[dict[str, Any]], out: Path) -> dict[str, Any]:
        runs.append({"api": api, "spec": spec.name, "manifests": manifests, "out": out})
        report = smoke_report or SMOKE_REPORT | {"environment": env}
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report))
        return report

    life.smoke = smoke  # type: ignore[method-assign]
    life.smoke_runs = runs  # type: ignore[attr-defined]
    return life


def without_doctor(commands: list[str]) -> list[str]:
    """The state-changing sequence: the preflight's probes are tested in test_doctor.py."""
    probes = (
        "version",
        "--version",
        "whoami",
        "stack ls",
        "sts get-caller-identity",
        "describe",
        "get-service-quota",
        "head-bucket",
        "get daemonsets",
    )
    return [c for c in commands if not any(p in c for p in probes) and not c.startswith("docker info")]


def test_standin_eks_up_runs_cloud_then_platform_then_smoke_in_order(standins):
    healthy_answers(standins, "dev")
    life = lifecycle("dev")
    report = life.up()
    paths = life.paths
    kc = str(paths.kubeconfig)
    assert without_doctor(standins.commands()) == [
        "tofu init -input=false",
        "tofu plan -input=false -out=cnai.tfplan",
        "tofu apply -input=false cnai.tfplan",
        "tofu output -json",
        "pulumi stack select dev --create --non-interactive",
        "pulumi up --stack dev --yes --non-interactive --skip-preview",
        "pulumi stack output endpoints --json --stack dev",
        *(
            f"kubectl --kubeconfig {kc} wait --for=condition=Available deployment --all -n {ns} --timeout=600s"
            for ns in ("kueue-system", "cert-manager", "keda", "kserve", "cnai-mlflow", "cnai-observability")
        ),
    ]
    (smoke,) = life.smoke_runs
    assert smoke["api"] == paths.kubeconfig and smoke["out"] == paths.reports
    assert {m["metadata"]["name"] for m in smoke["manifests"] if m["kind"] == "Job"} >= {
        "cnai-smoke-suite",
        "cnai-smoke-a10g-spot-inventory",
    }
    calls = {" ".join([c["tool"], *c["argv"]]): c for c in standins.calls()}
    assert calls["tofu apply -input=false cnai.tfplan"]["cwd"] == str(paths.stack_dir)
    assert calls["tofu apply -input=false cnai.tfplan"]["env"]["TF_IN_AUTOMATION"] == "1"
    pulumi_up = calls["pulumi up --stack dev --yes --non-interactive --skip-preview"]
    assert pulumi_up["cwd"] == str(paths.platform)
    assert pulumi_up["env"]["KUBECONFIG"] == kc and pulumi_up["env"]["CNAI_CLOUD_DIR"] == str(paths.cloud)
    # Real hand-overs: the synthesized stack tofu applied, the outputs the platform reads, the kubeconfig.
    assert json.loads(paths.stack_file.read_text())["resource"]["aws_eks_cluster"]
    assert json.loads((paths.outputs / "dev.json").read_text())["cluster_name"]["value"] == "cnai-dev"
    assert stat.S_IMODE(paths.kubeconfig.stat().st_mode) == 0o600
    assert yaml.safe_load(paths.kubeconfig.read_text())["users"][0]["user"]["exec"]["command"] == "aws"
    assert json.loads(paths.endpoints.read_text())["environment"] == "dev"
    assert json.loads(report.read_text())["summary"]["failed"] == 0


def test_standin_tofu_runs_in_the_synthesized_stack_and_pulumi_in_the_platform_with_their_environment(standins):
    healthy_answers(standins, "dev")
    life = lifecycle("dev")
    life.up()
    calls = [
        c for c in standins.calls() if c["tool"] in ("tofu", "pulumi") and c["argv"][0] not in ("version", "whoami")
    ]
    for call in calls:
        if call["tool"] == "tofu":
            assert call["cwd"] == str(life.paths.stack_dir)
            assert call["env"]["TF_IN_AUTOMATION"] == "1" and call["env"]["TF_INPUT"] == "0"
        elif call["argv"][:2] != ["stack", "ls"]:
            assert call["cwd"] == str(life.paths.platform)
            assert call["env"]["KUBECONFIG"] == str(life.paths.kubeconfig)
            assert call["env"]["CNAI_CLOUD_DIR"] == str(life.paths.cloud)
            assert call["env"]["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert {c["tool"] for c in calls} == {"tofu", "pulumi"}
    # what the platform stack will read (stacks/platform/__main__.py -> cluster_access) is tofu's real output
    assert load_outputs(built("dev"), life.paths.outputs).cluster_name == "cnai-dev"


@pytest.mark.parametrize(
    ("failing", "step"),
    [
        ("tofu init", "tofu-init"),
        ("tofu plan", "tofu-apply"),
        ("tofu output", "cloud-outputs"),
        ("pulumi up", "pulumi-up"),
        ("kubectl --kubeconfig", "wait-ready"),
    ],
)
def test_standin_eks_up_resumes_at_each_failed_step(standins, monkeypatch, failing, step):
    healthy_answers(standins, "dev")
    monkeypatch.setenv("CNAI_STANDIN_FAIL", failing)
    with pytest.raises(LifecycleError, match=step):
        lifecycle("dev").up()
    state = json.loads(lifecycle("dev").paths.state.read_text())
    assert state["failed"] == step and step not in state["done"]
    monkeypatch.delenv("CNAI_STANDIN_FAIL")
    standins.clear()
    lifecycle("dev").up()
    second_run = without_doctor(standins.commands())
    assert any(failing in c for c in second_run)
    assert json.loads(lifecycle("dev").paths.state.read_text())["done"][-1] == "smoke"
    state_changing = {"tofu-init": "tofu init", "tofu-apply": "tofu apply", "pulumi-up": "pulumi up"}
    for done_step in state["done"]:
        if done_step in state_changing:
            assert not any(c.startswith(state_changing[done_step]) for c in second_run), f"{done_step} ran twice"


def test_standin_smoke_manifests_carry_the_endpoints_and_the_gpu_jobs(standins):
    healthy_answers(standins, "dev")
    life = lifecycle("dev")
    life.up()
    manifests = list(yaml.safe_load_all(life.paths.smoke_manifests.read_text()))
    config = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert json.loads(config["data"]["endpoints.json"]) == json.loads(life.paths.endpoints.read_text())
    names = {m["metadata"]["name"] for m in manifests if m["kind"] == "Job"}
    assert "cnai-smoke-suite" in names and "cnai-smoke-a10g-spot-inventory" in names


@pytest.mark.parametrize("failing", ["kind create", "pulumi stack select", "pulumi up", "stack output endpoints"])
def test_standin_kind_up_resumes_at_the_failed_step_and_never_repeats_a_done_one(standins, monkeypatch, failing):
    healthy_answers(standins, "kind")
    monkeypatch.setenv("CNAI_STANDIN_FAIL", failing)
    with pytest.raises(LifecycleError) as info:
        lifecycle("kind").up()
    assert "failed on purpose" in str(info.value)
    first_run = without_doctor(standins.commands())
    assert any(failing in c for c in first_run)
    monkeypatch.delenv("CNAI_STANDIN_FAIL")
    standins.clear()
    lifecycle("kind").up()
    second_run = without_doctor(standins.commands())
    assert any(failing in c for c in second_run), "the failed step runs again"
    done_before = [c for c in first_run if failing not in c]
    state_changing = ("kind create", "pulumi stack select", "pulumi up")
    assert not [c for c in done_before if c.startswith(state_changing) and c in second_run]


def test_standin_eks_resume_after_a_failed_apply_does_not_synth_or_init_again(standins, monkeypatch):
    healthy_answers(standins, "dev")
    monkeypatch.setenv("CNAI_STANDIN_FAIL", "tofu apply")
    with pytest.raises(LifecycleError, match="tofu-apply"):
        lifecycle("dev").up()
    state = json.loads(lifecycle("dev").paths.state.read_text())
    assert state["done"] == ["doctor", "synth", "tofu-init"] and state["failed"] == "tofu-apply"
    monkeypatch.delenv("CNAI_STANDIN_FAIL")
    standins.clear()
    lifecycle("dev").paths.stack_file.unlink()  # proves synth is skipped: tofu would see none
    lifecycle("dev").up()
    assert without_doctor(standins.commands())[:2] == [
        "tofu plan -input=false -out=cnai.tfplan",
        "tofu apply -input=false cnai.tfplan",
    ]


def test_standin_a_plan_not_confirmed_applies_nothing(standins):
    healthy_answers(standins, "dev")
    with pytest.raises(LifecycleError, match="not confirmed: nothing was applied"):
        lifecycle("dev", confirm=False).up()
    assert not any(c.startswith(("tofu apply", "pulumi up")) for c in standins.commands())


def test_standin_kind_cluster_is_created_from_a_generated_config_once(standins):
    healthy_answers(standins, "kind")
    life = lifecycle("kind")
    life.up()
    create = [c for c in standins.commands() if c.startswith("kind create cluster")]
    assert create == [
        f"kind create cluster --name cnai --config {life.paths.kind_config} --kubeconfig {life.paths.kubeconfig}"
        " --wait 120s"
    ]
    config = yaml.safe_load(life.paths.kind_config.read_text())
    pool_worker = config["nodes"][2]
    assert pool_worker["labels"]["cnai.io/gpu-pool"] == "emulated-t4"
    join = yaml.safe_load(pool_worker["kubeadmConfigPatches"][0])
    assert join["nodeRegistration"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    standins.answer("kind get clusters", "cnai\n")
    standins.clear()
    life.up()
    assert not any(c.startswith("kind create") for c in standins.commands())


def test_standin_a_failed_smoke_check_fails_up(standins):
    healthy_answers(standins, "kind")
    checks = [{"name": f"test_gpu_jobs::test_result[{i}]", "outcome": "failed"} for i in range(2)]
    report = {"summary": {"passed": 10, "failed": 2, "skipped": 0}, "checks": checks}
    with pytest.raises(LifecycleError, match=r"2 check\(s\) failed \(test_gpu_jobs::test_result\[0\]"):
        lifecycle("kind", smoke_report=report).up()


def test_down_refuses_a_protected_environment_and_runs_nothing(standins):
    healthy_answers(standins, "prod")
    with pytest.raises(LifecycleError, match="prod is protected"):
        lifecycle("prod").down(allow_protected=False)
    assert standins.commands() == []


def test_standin_down_destroys_platform_then_cloud_after_naming_both(standins):
    healthy_answers(standins, "prod")
    asked: list[str] = []
    life = Lifecycle(built("prod"), ClusterPaths.from_env("prod"), confirm=lambda q: asked.append(q) or True)
    life.down(allow_protected=True)
    assert asked == [
        "Destroy prod: the platform (Pulumi stack prod), then the GKE cluster cnai-prod, its network and its buckets?"
    ]
    assert standins.commands() == [
        "pulumi destroy --stack prod --yes --non-interactive --skip-preview",
        "tofu init -input=false",
        "tofu destroy -input=false -auto-approve",
    ]


def test_standin_down_not_confirmed_destroys_nothing(standins):
    healthy_answers(standins, "kind")
    with pytest.raises(LifecycleError, match="nothing destroyed"):
        lifecycle("kind", confirm=False).down(allow_protected=False)
    assert standins.commands() == []


def test_standin_status_reports_steps_drift_and_last_smoke(standins):
    healthy_answers(standins, "kind")
    life = lifecycle("kind")
    life.up()
    status = life.status()
    assert status["steps_done"][-1] == "smoke" and status["drift"] == {}
    assert status["last_smoke"] == {"passed": 12, "failed": 0, "skipped": 3}
    older = json.loads(standins.responses["pulumi stack output bom"]["stdout"]) | {"helm_charts/kueue": "0.1.0"}
    standins.answer("pulumi stack output bom", json.dumps(older))
    drift = life.status()["drift"]
    assert list(drift) == ["helm_charts/kueue"] and drift["helm_charts/kueue"]["deployed"] == "0.1.0"


def test_standin_existing_cluster_up_takes_its_credentials_and_down_leaves_the_cluster(standins):
    healthy_answers(standins, "onprem")
    life = lifecycle("onprem")
    life.up()
    commands = without_doctor(standins.commands())
    assert commands[0] == "kubectl config view --minify --flatten --context=onprem-admin"
    assert commands[1:3] == [
        "pulumi stack select onprem --create --non-interactive",
        "pulumi up --stack onprem --yes --non-interactive --skip-preview",
    ]
    assert "current-context: onprem-admin" in life.paths.kubeconfig.read_text()
    assert stat.S_IMODE(life.paths.kubeconfig.stat().st_mode) == 0o600
    assert not any(c.startswith(("kind ", "tofu ")) for c in commands)
    standins.clear()
    asked: list[str] = []
    Lifecycle(built("onprem"), life.paths, confirm=lambda q: asked.append(q) or True).down(allow_protected=False)
    assert asked == ["Destroy onprem: the platform (Pulumi stack onprem)?"]
    assert standins.commands() == ["pulumi destroy --stack onprem --yes --non-interactive --skip-preview"]


def test_a_failed_tool_is_reported_by_its_error_lines_not_its_warnings():
    """Pulumi prints its errors on stdout and its warnings on stderr: the real engine on the sim showed
    a failed `pulumi up` reported by a warning alone."""
    proc = subprocess.CompletedProcess(
        ["pulumi", "up"],
        1,
        stdout="Updating (sim):\n  kubernetes:helm.sh/v3:Release kueue  error: chart path not found\nDuration: 2s\n",
        stderr="warning: using pulumi-language-python from $PATH\n",
    )
    shown = failure_lines(proc)
    assert "error: chart path not found" in shown and "warning" not in shown
    quiet = subprocess.CompletedProcess(["kind"], 1, stdout="", stderr="no such cluster\n")
    assert failure_lines(quiet) == "no such cluster"
