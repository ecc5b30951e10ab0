"""Every Helm release cnai installs, rendered from the pinned chart with exactly the values cnai deploys:
it renders, and every value is a setting the chart defines (a typo'd or removed key is silently
ignored by Helm, so only this check notices)."""

from __future__ import annotations

import re

import pytest

from modules.components.contents import helm_releases
from modules.components.object_storage import IDENTITIES_SECRET, credential_secrets
from modules.sim.charts import chart_defaults, render, template_references, unknown_values
from tests.k8s.declared import built_helm
from tests.specs import CLUSTER_STAND_INS, stand_in_spec

RELEASES = [(env, r["name"]) for env in CLUSTER_STAND_INS for r in helm_releases(stand_in_spec(env))]


def _release(env: str, name: str) -> dict:
    return next(r for r in helm_releases(stand_in_spec(env)) if r["name"] == name)


@pytest.mark.parametrize(("env", "name"), RELEASES, ids=[f"{e}-{n}" for e, n in RELEASES])
def test_values_are_settings_the_chart_defines(env: str, name: str):
    release = _release(env, name)
    assert unknown_values(release["values"], chart_defaults(name), template_references(name)) == []


@pytest.mark.parametrize(("env", "name"), RELEASES, ids=[f"{e}-{n}" for e, n in RELEASES])
def test_release_renders_with_cnais_values(env: str, name: str):
    helm = built_helm()
    release = _release(env, name)
    docs = render(helm, name, name, release["namespace"], release["values"])
    assert docs and all("kind" in d and "metadata" in d for d in docs)


def test_a_removed_setting_is_reported_with_its_path():
    defaults = {"operator": {"image": "x", "resources": {}}, "driver": {"enabled": True}, "extra": {}}
    values = {
        "operator": {"defaultRuntime": "containerd", "resources": {"limits": {"cpu": 1}}},
        "driver": {"enabled": False, "typo": 1},
        "extra": {"anything": {"goes": 1}},
    }
    assert unknown_values(values, defaults) == ["operator.defaultRuntime", "driver.typo"]
    assert unknown_values(values, defaults, {"driver.typo"}) == ["operator.defaultRuntime"]  # a template reads it


@pytest.mark.parametrize(
    "env", [e for e in CLUSTER_STAND_INS if any(r["name"] == "seaweedfs" for r in helm_releases(stand_in_spec(e)))]
)
def test_seaweedfs_reads_its_s3_identities_from_the_key_cnai_writes(env: str):
    """The filer mounts cnai's identities Secret and starts with -s3.config=<mount>/<key>: the key must be
    one cnai's Secret has (it had only s3.json, and the gateway would have started without identities)."""
    helm = built_helm()
    release = _release(env, "seaweedfs")
    docs = render(helm, "seaweedfs", "seaweedfs", release["namespace"], release["values"])
    filer = next(d for d in docs if d["kind"] == "StatefulSet" and "filer" in d["metadata"]["name"])
    pod = filer["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == IDENTITIES_SECRET)
    mount = next(m for c in pod["containers"] for m in c["volumeMounts"] if m["name"] == volume["name"])
    command = " ".join(" ".join(c.get("command", []) + c.get("args", [])) for c in pod["containers"])
    config_file = re.search(rf"-s3\.config={re.escape(mount['mountPath'])}/?(\S+)", command)
    assert config_file, command[:500]
    secret = credential_secrets("ak", "sk", "{}")[0]
    assert secret["metadata"]["name"] == IDENTITIES_SECRET
    assert config_file.group(1) in secret["stringData"]
