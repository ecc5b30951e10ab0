"""`cnai doctor`: the preflight against present and missing tools and credentials.

pulumi, tofu, kind, kubectl and the cloud CLIs cannot run here, so recording stand-ins answer for them
(names say `standin`). The spec, the version rules from the bill of materials and a real cdktn synth
(for the driver check) are real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from modules.cloud.stack import synth
from modules.cluster.doctor import Finding, diagnose, failed
from modules.cluster.paths import ClusterPaths
from modules.cluster.tools import Shell, at_least, parse_version
from modules.spec.loader import REPO_ROOT
from modules.versions import binary
from tests.cluster.conftest import built, daemonsets, healthy_answers


def findings(env: str) -> dict[str, Finding]:
    return {f.check: f for f in diagnose(env, Shell(), ClusterPaths.from_env(env))}


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("OpenTofu v1.10.6\non linux_amd64", (1, 10, 6)),
        ("v3.280.0", (3, 280, 0)),
        ("Client Version: v1.35.1", (1, 35, 1)),
        ("Google Cloud SDK 545.0.0", (545, 0, 0)),
        ("no digits here", None),
    ],
)
def test_versions_are_read_from_what_each_cli_prints(text, version):
    assert parse_version(text) == version


def test_minimums_compare_numerically_not_as_text():
    assert at_least((1, 10, 0), "1.9") and not at_least((1, 9, 9), "1.10")
    assert at_least((3, 272), "3.272") and not at_least((3, 27, 900), "3.272")


@pytest.mark.parametrize("env", ["kind", "onprem", "dev", "prod"])
def test_standin_healthy_tools_and_credentials_pass(standins, env):
    healthy_answers(standins, env)
    result = findings(env)
    assert not failed(list(result.values())), [f for f in result.values() if f.level == "fail"]
    tools = {check for check in result if check.startswith("tool ")}
    expected = {
        "kind": {"tool pulumi", "tool kubectl", "tool kind", "tool docker"},
        "onprem": {"tool pulumi", "tool kubectl"},
        "dev": {"tool pulumi", "tool kubectl", "tool tofu", "tool aws"},
        "prod": {"tool pulumi", "tool kubectl", "tool tofu", "tool gcloud", "tool gke-gcloud-auth-plugin"},
    }[env]
    assert tools == expected


def test_standin_missing_tools_fail_with_how_to_install_and_skip_what_needs_them(standins, monkeypatch):
    healthy_answers(standins, "dev")
    standins.remove("tofu")
    standins.remove("aws")
    monkeypatch.setenv("PATH", standins.environment(only_standins=True)["PATH"])  # no real tofu/terraform either
    result = findings("dev")
    assert result["tool tofu"].level == "fail" and "tofu or terraform not on PATH" in result["tool tofu"].detail
    assert result["tool tofu"].fix.startswith("https://opentofu.org")
    assert result["tool aws"].level == "fail"
    # without aws, neither credentials nor quota nor state bucket are probed
    assert "credentials" not in result and "state backend" not in result
    assert not any(c.startswith("aws ") for c in standins.commands())


def test_standin_terraform_stands_in_for_tofu(standins):
    healthy_answers(standins, "dev")
    standins.remove("tofu")
    standins.install(("terraform",))
    standins.answer("terraform version", "Terraform v1.13.4\non linux_amd64\n")
    assert findings("dev")["tool terraform"].level == "ok"


def test_standin_a_tool_older_than_the_bill_of_materials_fails(standins):
    healthy_answers(standins, "kind")
    standins.answer("pulumi version", "v3.100.0\n")
    finding = findings("kind")["tool pulumi"]
    assert finding.level == "fail" and f"older than {binary('pulumi')}" in finding.detail


def test_standin_expired_credentials_and_a_missing_state_bucket_fail_with_a_fix(standins):
    healthy_answers(standins, "dev")
    standins.answer("aws sts get-caller-identity", rc=255, stderr="Error when retrieving token from sso: expired\n")
    standins.answer("aws s3api head-bucket", rc=254, stderr="An error occurred (404) when calling HeadBucket\n")
    result = findings("dev")
    assert result["credentials"].level == "fail" and "expired" in result["credentials"].detail
    assert result["credentials"].fix == "aws sso login (or set AWS_PROFILE)"
    assert result["state backend"].level == "fail" and "acme-cnai-tfstate" in result["state backend"].detail


def test_standin_not_logged_in_to_pulumi_fails_and_a_new_stack_is_only_a_warning(standins):
    healthy_answers(standins, "prod")
    assert findings("prod")["pulumi stack"].level == "warn"
    standins.answer("pulumi whoami", rc=255, stderr="error: PULUMI_ACCESS_TOKEN must be set for login\n")
    result = findings("prod")
    assert result["pulumi backend"].level == "fail" and result["pulumi backend"].fix.startswith("pulumi login")
    assert "pulumi stack" not in result


def test_standin_gke_quota_below_what_a_pool_scales_to_is_a_warning_naming_the_metric(standins):
    healthy_answers(standins, "prod")
    quotas = [{"metric": "NVIDIA_H100_GPUS", "limit": 8, "usage": 4}, {"metric": "NVIDIA_A100_80GB_GPUS", "limit": 64}]
    standins.answer("gcloud compute regions describe", json.dumps({"quotas": quotas}))
    result = findings("prod")
    quota = [f for check, f in result.items() if check.startswith("gpu quota")]
    short = [f for f in quota if f.level == "warn"]
    assert short and all("NVIDIA_H100_GPUS: 4 free" in f.detail for f in short)
    assert all(f.fix.startswith("request NVIDIA_H100_GPUS >= ") for f in short)
    assert not failed(list(result.values())), "quota is a hint, not a blocker"


def test_standin_eks_quota_counts_vcpus_of_the_derived_instance_type(standins):
    healthy_answers(standins, "dev")
    standins.answer("aws service-quotas get-service-quota", json.dumps({"Quota": {"Value": 2.0}}))
    quota = [f for check, f in findings("dev").items() if check.startswith("gpu quota")]
    assert quota and all(f.level == "warn" and "vCPUs" in f.fix for f in quota)


def test_standin_a_stale_synthesized_stack_fails_the_driver_check(standins, tmp_path):
    healthy_answers(standins, "prod")
    paths = ClusterPaths.from_env("prod")
    synth(built("prod"), paths.synth_out)
    assert findings("prod")["driver strategy"].level == "ok"
    stack_file = paths.stack_file
    stack = json.loads(stack_file.read_text())
    for pool in stack["resource"]["google_container_node_pool"].values():
        for accelerator in pool["node_config"].get("guest_accelerator", []):
            accelerator["gpu_driver_installation_config"]["gpu_driver_version"] = "INSTALLATION_DISABLED"
    stack_file.write_text(json.dumps(stack))
    finding = findings("prod")["driver strategy"]
    assert finding.level == "fail" and finding.fix == "cnai synth prod (the synthesized stack is stale)"


def test_an_invalid_spec_is_the_only_finding_and_names_the_field(tmp_path, monkeypatch):
    monkeypatch.setenv("CNAI_STACKS", str(tmp_path))
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  cnai:spec:\n    cluster: {target: eks, region: us-east-1}\n    teams: []\n"
    )
    result = diagnose("bad", Shell(), ClusterPaths.from_env("bad"))
    assert result and all(f.check == "spec" and f.level == "fail" for f in result)


def test_standin_cli_json_output_and_exit_code(standins):
    healthy_answers(standins, "kind")
    run = [sys.executable, "-m", "modules.cli", "doctor", "kind", "--json"]
    proc = subprocess.run(run, capture_output=True, text=True, cwd=REPO_ROOT, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert {f["level"] for f in json.loads(proc.stdout)} <= {"ok", "warn"}
    standins.answer("docker info", rc=1, stderr="Cannot connect to the Docker daemon\n")
    proc = subprocess.run(run, capture_output=True, text=True, cwd=REPO_ROOT, env=dict(os.environ))
    assert proc.returncode == 3  # a runtime failure; an invalid spec would be 1
    runtime = next(f for f in json.loads(proc.stdout) if f["check"] == "container runtime")
    assert runtime["level"] == "fail" and "Docker daemon" in runtime["detail"]


def test_standin_an_existing_cluster_whose_cni_enforces_no_network_policy_fails(standins):
    healthy_answers(standins, "onprem")
    assert findings("onprem")["network policy"].level == "ok"
    standins.answer("kubectl --context onprem-admin get daemonsets", daemonsets("kube-proxy", "kube-flannel-ds"))
    finding = findings("onprem")["network policy"]
    assert finding.level == "fail" and "kube-flannel-ds" in finding.detail and "Calico" in finding.fix
