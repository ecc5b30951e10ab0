"""Runs inside the MLflow pod before the server (cnai ships it in ConfigMap `mlflow-users-script`): makes
each platform client's MLflow user from the mounted Secret `mlflow-users` (file name = user name, content
= password) and grants it what it writes to, and no more. MLflow's basic auth creates only its admin;
the OpenTelemetry Collector gets its own user that may add traces to one experiment, not the admin's
password. Standard library and MLflow only: it runs with the image's Python."""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

COLLECTOR_USER = "otel-collector"
TRACES_EXPERIMENT = "0"  # the Default experiment: the collector sends every trace there
# user -> (experiment id, permission)
GRANTS = {COLLECTOR_USER: (TRACES_EXPERIMENT, "EDIT")}


def provision(users_dir: Path, auth_config: Path) -> list[str]:
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    config = configparser.ConfigParser()
    config.read(auth_config)
    store = SqlAlchemyStore()
    store.init_db(config["mlflow"]["database_uri"])
    done = []
    for file in sorted(p for p in users_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        user, password = file.name, file.read_text().strip()
        if store.has_user(user):
            store.update_user(user, password=password)
        else:
            store.create_user(user, password)
        if user in GRANTS:
            experiment, permission = GRANTS[user]
            try:
                store.update_experiment_permission(experiment, user, permission)
            except MlflowException:  # no grant yet
                store.create_experiment_permission(experiment, user, permission)
        done.append(user)
    return done


if __name__ == "__main__":
    made = provision(Path(sys.argv[1]), Path(os.environ["MLFLOW_AUTH_CONFIG_PATH"]))
    print(f"mlflow users: {', '.join(made) or 'none'}")
