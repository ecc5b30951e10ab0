"""`cnai render` is the platform program's own record (run under mocks): the goldens of every shipped
cluster environment, each component's file holding exactly the objects the program applies for it,
every Release as declared, and no secret value in any file."""

from __future__ import annotations

import os

import pytest
import yaml

from modules.components.catalog import COMPONENTS
from modules.k8s.declared import MASK, declared
from modules.k8s.render import rendered_files
from modules.spec import list_envs, load_spec
from tests.conftest import assert_golden
from tests.specs import gpu_pool, kind_document, spec, stand_in_spec, team

CLUSTER_ENVS = [e for e in list_envs() if load_spec(e).is_cluster]


@pytest.mark.parametrize("env", CLUSTER_ENVS)
def test_golden_rendered(env):
    for name, text in rendered_files(load_spec(env)).items():
        assert_golden(f"render/{env}/{name}", text)


def test_files_hold_what_the_program_applies_per_component():
    spec = stand_in_spec("prod")
    files = {name: list(yaml.safe_load_all(text)) for name, text in rendered_files(spec).items()}
    program = declared(spec)
    applied = [
        o for name, objects in files.items() if name not in ("helm-releases.yaml", "smoke-jobs.yaml") for o in objects
    ]
    key = lambda o: (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, applied)) == sorted(map(key, program.objects))
    kueue = {key(o) for o in files["kueue.yaml"]}
    assert {k for k in kueue if k[0] in ("ClusterQueue", "ResourceFlavor")} and all(k[0] != "Namespace" for k in kueue)
    assert set(files) - {"helm-releases.yaml", "smoke-jobs.yaml"} <= {"security.yaml"} | {
        f"{c.name}.yaml" for c in COMPONENTS
    }
    releases = files["helm-releases.yaml"][0]
    assert sorted((r["name"], r["namespace"]) for r in releases) == sorted(
        (r["name"], r["namespace"]) for r in program.releases
    )


def test_no_secret_value_in_any_file():
    spec = stand_in_spec("prod")
    program = declared(spec)
    assert program.generated
    text = "\n".join(rendered_files(spec).values())
    assert not [value for value in program.generated if value in text]
    assert MASK in text


def test_credentials_read_at_deploy_are_neither_needed_nor_shown(monkeypatch):
    # An environment variable and a stack secret the program would read at deploy time: render runs the
    # program on stand-ins, so neither needs to exist here and a real value set in the shell never shows.
    monkeypatch.setenv("CNAI_TEST_MLFLOW_PASSWORD", "real-password-from-the-shell")
    document = kind_document(gpu_pools=[gpu_pool("t4", "nvidia-t4")], teams=[team()])
    document["components"]["mlflow"]["admin_password"] = {"env": "CNAI_TEST_MLFLOW_PASSWORD"}
    document["components"]["observability"]["grafana_admin_password"] = {"secure": "v1:ciphertext"}
    text = "\n".join(rendered_files(spec(document)).values())
    assert "real-password-from-the-shell" not in text and "stand-in" not in text
    assert text.count(MASK) >= 3  # MLflow's admin Secret and its URL, Grafana's admin Secret
    assert os.environ["CNAI_TEST_MLFLOW_PASSWORD"] == "real-password-from-the-shell"
