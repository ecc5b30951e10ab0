"""MLflow in the cluster: CNPG database with backups, a hardened server, secrets mounted as files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from modules.components import mlflow_users
from modules.components.mlflow import mlflow_server_objects, postgres_cluster
from modules.components.mlflow_users import COLLECTOR_USER, TRACES_EXPERIMENT
from modules.local.paths import LocalPaths
from modules.spec.loader import REPO_ROOT
from tests.specs import stand_in, stand_in_spec


def by_kind(spec_name: str) -> dict[str, dict]:
    return {o["kind"]: o for o in mlflow_server_objects(stand_in_spec(spec_name))}


def test_database_is_highly_available_and_backed_up_where_protected():
    prod = postgres_cluster(stand_in_spec("prod"))["spec"]
    assert prod["instances"] == 3
    assert prod["backup"]["barmanObjectStore"]["destinationPath"] == "gs://acme-cnai-prod-mlflow-artifacts/cnpg/prod"
    kind = postgres_cluster(stand_in_spec("kind"))["spec"]
    assert kind["instances"] == 1
    assert kind["backup"]["barmanObjectStore"]["s3Credentials"]["accessKeyId"] == {
        "name": "mlflow-s3",
        "key": "AWS_ACCESS_KEY_ID",
    }


def test_server_runs_hardened_with_secrets_as_files():
    container = by_kind("prod")["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] and container["securityContext"]["runAsNonRoot"]
    assert not any("valueFrom" in e for e in container["env"]), "no secret in an environment variable"
    assert "--app-name basic-auth" in container["command"][-1]
    assert "--serve-artifacts" in container["command"][-1]


def test_metrics_are_scraped():
    monitor = by_kind("prod")["ServiceMonitor"]
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics"}]


def test_disabled_mlflow_renders_nothing():
    from modules.spec import validate

    document = stand_in("kind")
    document["components"]["mlflow"] = {"enabled": False}
    document["components"]["kserve"] = {"enabled": False}
    document["components"]["cert_manager"] = {"enabled": False}  # KServe installs it
    assert mlflow_server_objects(validate("kind", document)) == []


def test_gke_binds_the_server_and_the_database_to_their_google_service_accounts():
    objects = by_kind("prod")
    assert objects["ServiceAccount"]["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "cnai-prod-mlflow@acme-cnai-prod.iam.gserviceaccount.com"
    }
    assert objects["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == "mlflow"
    template = objects["Cluster"]["spec"]["serviceAccountTemplate"]["metadata"]["annotations"]
    assert template == {"iam.gke.io/gcp-service-account": "cnai-prod-mlflow-db@acme-cnai-prod.iam.gserviceaccount.com"}
    assert (
        "gs://acme-cnai-prod-mlflow-artifacts/"
        in objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    )


def test_eks_pod_identity_needs_no_annotation_and_in_cluster_store_none_either():
    for env in ("dev", "kind"):
        assert "annotations" not in by_kind(env)["ServiceAccount"]["metadata"]
        assert "serviceAccountTemplate" not in postgres_cluster(stand_in_spec(env))["spec"]


def test_the_server_mounts_only_secrets_that_exist_for_its_store():
    """mlflow-s3 exists only for the in-cluster store (the component creates it from the store's keys);
    on EKS/GKE a required mount of it would keep the pod from ever starting."""
    for env, in_cluster in (("kind", True), ("onprem", True), ("dev", False), ("prod", False)):
        pod = by_kind(env)["Deployment"]["spec"]["template"]["spec"]
        secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert ("mlflow-s3" in secrets) is in_cluster, env
        env_names = {e["name"] for e in pod["containers"][0]["env"]}
        assert ("AWS_SHARED_CREDENTIALS_FILE" in env_names) is in_cluster, env


def test_the_servers_image_has_what_its_command_uses():
    """MLflow's core image has no PostgreSQL driver, cloud artifact clients, Prometheus exporter or
    basic-auth extra; cnai's image (images/mlflow/Dockerfile) adds exactly the BOM's packages."""
    from modules.versions import bom, image

    container = by_kind("prod")["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image("cnai-mlflow")
    packages = {p.split("==")[0].lower() for p in bom()["images"]["cnai-mlflow"]["packages"]}
    command = container["command"][-1]
    needed = {"psycopg2-binary"}  # the backend store is the CloudNativePG database
    needed |= {"prometheus-flask-exporter"} if "--expose-prometheus" in command else set()
    needed |= {"flask-wtf"} if "--app-name basic-auth" in command else set()
    needed |= {"google-cloud-storage"} if "gs://" in command else set()
    needed |= (
        {"boto3"}
        if "s3://" in by_kind("kind")["Deployment"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
        else set()
    )
    assert needed <= packages and len(needed) == 5
    dockerfile = (REPO_ROOT / "images" / "mlflow" / "Dockerfile").read_text()
    assert "ARG PACKAGES" in dockerfile and "pip install --no-cache-dir ${PACKAGES}" in dockerfile


def _mlflow_python() -> str:
    """The local environment's MLflow (the version the cluster image pins), installed by `cnai setup local`."""
    python = LocalPaths.from_env().venv_bin("mlflow", "python")
    if not Path(python).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{python} missing: `cnai setup local` installs it")
        pytest.skip(f"{python} missing: run `cnai setup local`")
    return python


def test_the_collectors_mlflow_user_may_add_traces_to_its_experiment_only(tmp_path):
    """mlflow_users.py against MLflow's real auth store: the user is made, a rerun (a pod restart with a
    rotated password) updates it, and its one grant is EDIT on the traces experiment."""
    python = _mlflow_python()
    users = tmp_path / "users"
    users.mkdir()
    ini = tmp_path / "basic_auth.ini"
    ini.write_text(  # the settings cnai's basic_auth_ini() writes
        f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{tmp_path / 'auth.db'}\n"
        "admin_username = admin\nadmin_password = admin-password\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = os.environ | {"MLFLOW_AUTH_CONFIG_PATH": str(ini)}
    script = tmp_path / "script" / "mlflow_users.py"  # alone in its folder, as mounted from the ConfigMap
    script.parent.mkdir()
    script.write_text(Path(mlflow_users.__file__).read_text())
    for password in ("first-password-012345", "rotated-password-012345"):
        (users / COLLECTOR_USER).write_text(password)
        done = subprocess.run([python, str(script), str(users)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"mlflow users: {COLLECTOR_USER}" in done.stdout
    check = (
        "import sys; from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore as S; s = S(); "
        f"s.init_db(sys.argv[1]); print(s.authenticate_user({COLLECTOR_USER!r}, 'rotated-password-012345'), "
        f"s.authenticate_user({COLLECTOR_USER!r}, 'first-password-012345'), "
        f"[(p.experiment_id, p.permission) for p in s.list_experiment_permissions({COLLECTOR_USER!r})])"
    )
    seen = subprocess.run([python, "-c", check, f"sqlite:///{tmp_path / 'auth.db'}"], capture_output=True, text=True)
    assert seen.stdout.strip() == f"True False [({TRACES_EXPERIMENT!r}, 'EDIT')]", seen.stderr[-2000:]


def test_the_server_provisions_the_collector_user_before_it_starts():
    objects = mlflow_server_objects(stand_in_spec("prod"))
    container = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    command = container["command"][-1]
    assert command.index("mlflow_users.py /etc/mlflow-users &&") < command.index("exec mlflow server")
    script = next(o for o in objects if o["kind"] == "ConfigMap")
    assert script["data"]["mlflow_users.py"] == Path(mlflow_users.__file__).read_text()
