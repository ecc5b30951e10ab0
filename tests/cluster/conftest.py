"""Cluster lifecycle tests run the real cnai code against recording stand-ins for the external CLIs.

The environments (dev, prod, kind, onprem) are built ones (tests/specs.py): CNAI_STACKS points at them
for every test here, so what cnai loads by name is what the tests built, never stacks/platform."""

from __future__ import annotations

import json

import pytest

from modules.components.catalog import workloads
from modules.components.endpoints import cluster_endpoints
from modules.spec import Spec
from modules.versions import pinned_versions
from tests import specs
from tests.cluster.standins import StandIns


def built(env: str) -> Spec:
    """The built environment `env` (the one cnai loads by that name in these tests)."""
    return specs.spec(specs.stand_in(env))


@pytest.fixture(autouse=True)
def built_environments(tmp_path, monkeypatch) -> None:
    specs.use_stacks(monkeypatch, tmp_path / "environments", [specs.stand_in(env) for env in specs.CLUSTER_STAND_INS])


def tofu_outputs(env: str) -> str:
    spec = built(env)
    values = {
        "cluster_name": f"cnai-{env}",
        "cluster_endpoint": "https://api.example.internal",
        "cluster_ca": "LS0tLS1CRUdJTi1DRVJU",
        "buckets": {b: spec.bucket(b) for b in spec.components.object_storage.buckets},
        "workload_identities": {w.name: f"id-{w.name}" for w in workloads(spec)},
    }
    return json.dumps({k: {"value": v, "type": "string", "sensitive": k == "cluster_ca"} for k, v in values.items()})


SMOKE_REPORT = {"environment": "x", "summary": {"passed": 12, "failed": 0, "skipped": 3}, "checks": []}


def healthy_answers(standins: StandIns, env: str) -> None:
    """What the CLIs answer when everything works (versions new enough, credentials valid)."""
    standins.answer("pulumi version", "v3.280.0\n")
    standins.answer("tofu version", "OpenTofu v1.10.6\non linux_amd64\n")
    standins.answer("kubectl version", "Client Version: v1.35.1\nKustomize Version: v5.7.1\n")
    standins.answer("kind version", "kind v0.30.0 go1.24.6 linux/amd64\n")
    standins.answer("docker --version", "Docker version 28.3.3, build 980b856\n")
    standins.answer("aws --version", "aws-cli/2.31.2 Python/3.13.7 Linux/6.1\n")
    standins.answer("gcloud --version", "Google Cloud SDK 545.0.0\n")
    standins.answer("gke-gcloud-auth-plugin --version", "Kubernetes v1.30.0+a1b2c3\n")
    standins.answer("aws sts get-caller-identity", json.dumps({"Arn": "arn:aws:iam::123456789012:user/ada"}))
    standins.answer("gcloud auth print-access-token", "ya29.token\n")
    standins.answer("pulumi whoami", json.dumps({"user": "ada", "url": "s3://acme-pulumi-state"}))
    standins.answer("pulumi stack ls", json.dumps([{"name": "acme/cnai-platform/kind"}]))
    standins.answer("kind get clusters", "")
    standins.answer("kubectl config view", "apiVersion: v1\nkind: Config\ncurrent-context: onprem-admin\n")
    standins.answer("tofu plan", "Plan: 61 to add, 0 to change, 0 to destroy.\n")
    standins.answer("tofu output -json", tofu_outputs(env))
    standins.answer("pulumi stack output endpoints", cluster_endpoints(built(env)).model_dump_json())
    standins.answer("pulumi stack output bom", json.dumps(pinned_versions()))
    quotas = [{"metric": "NVIDIA_H100_GPUS", "limit": 64, "usage": 0}, {"metric": "NVIDIA_A100_80GB_GPUS", "limit": 8}]
    standins.answer("gcloud compute regions describe", json.dumps({"quotas": quotas}))
    standins.answer(
        "aws ec2 describe-instance-types", json.dumps({"InstanceTypes": [{"VCpuInfo": {"DefaultVCpus": 4}}]})
    )
    standins.answer("aws service-quotas get-service-quota", json.dumps({"Quota": {"Value": 64.0}}))
    standins.answer("kubectl --context onprem-admin get daemonsets", daemonsets("kube-proxy", "calico-node"))


def daemonsets(*names: str) -> str:
    return json.dumps({"items": [{"metadata": {"name": name, "namespace": "kube-system"}} for name in names]})


@pytest.fixture
def standins(tmp_path, monkeypatch) -> StandIns:
    tools = StandIns(tmp_path / "standins")
    tools.install()
    for key, value in tools.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CNAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CNAI_CLOUD_DIR", str(tmp_path / "cloud"))
    monkeypatch.setenv("CNAI_REPORTS", str(tmp_path / "reports"))
    return tools
