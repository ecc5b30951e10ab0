"""The cloud outputs the platform stack reads: `tofu output -json` shape, checked against the spec."""

from __future__ import annotations

import json
import re

import pytest

from modules.cloud.outputs import CloudOutputsError, kubeconfig, load_outputs, parse_outputs
from modules.components.catalog import workloads
from modules.k8s.platform import cluster_access
from tests.specs import stand_in_spec


def tofu_output(env: str, **overrides) -> dict:
    """What `tofu output -json` prints after applying the env's stack (values as the cloud fills them)."""
    spec = stand_in_spec(env)
    values = {
        "cluster_name": f"cnai-{env}",
        "cluster_endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com" if env == "dev" else "34.90.1.2",
        "cluster_ca": "LS0tLS1CRUdJTi...",
        "buckets": {b: spec.bucket(b) for b in spec.components.object_storage.buckets},
        "workload_identities": {w.name: f"identity-of-{w.name}" for w in workloads(spec)},
    } | overrides
    return {k: {"sensitive": k == "cluster_ca", "type": "string", "value": v} for k, v in values.items()}


def write(folder, env, document):
    (folder / f"{env}.json").write_text(json.dumps(document))


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_outputs_of_the_current_spec_load(tmp_path, env):
    write(tmp_path, env, tofu_output(env))
    outputs = load_outputs(stand_in_spec(env), tmp_path)
    assert outputs.cluster_name == f"cnai-{env}"


def test_a_stale_outputs_file_is_refused_with_the_fix(tmp_path):
    write(tmp_path, "dev", tofu_output("dev", buckets={"mlflow-artifacts": "old-name"}))
    with pytest.raises(CloudOutputsError, match="run `cnai up dev`"):
        load_outputs(stand_in_spec("dev"), tmp_path)
    write(tmp_path, "dev", tofu_output("dev", workload_identities={"mlflow": "x"}))
    with pytest.raises(CloudOutputsError, match="apply the cloud stack again"):
        load_outputs(stand_in_spec("dev"), tmp_path)


def test_missing_or_malformed_outputs_say_how_to_make_them(tmp_path):
    how = re.escape("tofu -chdir=stacks/cloud/cdktn.out/stacks/dev output -json")
    with pytest.raises(CloudOutputsError, match=how):
        load_outputs(stand_in_spec("dev"), tmp_path)
    (tmp_path / "dev.json").write_text("{not json")
    with pytest.raises(CloudOutputsError, match="not JSON"):
        load_outputs(stand_in_spec("dev"), tmp_path)
    with pytest.raises(CloudOutputsError, match="cluster_endpoint"):
        parse_outputs({k: v for k, v in tofu_output("dev").items() if k != "cluster_endpoint"})


def test_kubeconfig_uses_short_lived_cloud_tokens():
    dev = kubeconfig(stand_in_spec("dev"), parse_outputs(tofu_output("dev")))
    user = dev["users"][0]["user"]["exec"]
    assert user["command"] == "aws" and user["args"][:4] == ["eks", "get-token", "--cluster-name", "cnai-dev"]
    prod = kubeconfig(stand_in_spec("prod"), parse_outputs(tofu_output("prod")))
    assert prod["clusters"][0]["cluster"]["server"] == "https://34.90.1.2"
    assert prod["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert not any("token" in u["user"] or "password" in u["user"] for u in prod["users"])


def test_platform_reaches_a_cloud_cluster_through_its_outputs_and_others_by_context(tmp_path):
    write(tmp_path, "prod", tofu_output("prod"))
    access = cluster_access(stand_in_spec("prod"), tmp_path)
    assert json.loads(access["kubeconfig"])["current-context"] == "cnai-prod"
    assert cluster_access(stand_in_spec("kind"), tmp_path) == {"context": stand_in_spec("kind").cluster.kube_context}
