"""The Pulumi adapter of modules/components/mlflow.py: deploys what its builders return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from modules.components.mlflow import AUTH_SECRET, COMPONENT, NAMESPACE, S3_SECRET, mlflow_server_objects, users_secret
from modules.components.mlflow_users import COLLECTOR_USER
from modules.components.object_storage import S3Identity, s3_credentials_secret
from modules.components.objects import k8s_object
from modules.k8s.object_storage import aws_credentials_file
from modules.k8s.pulumi_resources import child_of, helm_release, object_group, secret_value
from modules.spec import Spec


def basic_auth_ini(admin_password: Any, database_uri: Any) -> Any:
    """MLflow's basic-auth configuration; values may be Pulumi outputs (secrets)."""
    template = (
        "[mlflow]\ndefault_permission = READ\ndatabase_uri = {1}\nadmin_username = admin\nadmin_password = {0}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return pulumi.Output.secret(pulumi.Output.format(template, admin_password, database_uri))


@dataclass(frozen=True)
class MlflowArgs:
    spec: Spec  # the environment; backend, auth and traces come from components.mlflow
    storage_identity: S3Identity | None  # the platform's S3 keys when the store runs in-cluster
    collector_password: pulumi.Input[str] | None = None  # the collector's MLflow user (collector_user)


class Mlflow(pulumi.ComponentResource):
    """CloudNativePG, the database cluster, and the MLflow tracking server with its secrets."""

    def __init__(self, name: str, args: MlflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:Mlflow", name, None, opts)
        child = child_of(self, opts)
        operator = helm_release(name, COMPONENT, COMPONENT.release("cloudnative-pg"), args.spec, child)
        ref = args.spec.components.mlflow.admin_password
        password = secret_value(ref, "components.mlflow.admin_password", f"{name}-admin-password", child) if ref else ""
        # The auth store sits beside the tracking store in the same database.
        auth = k8s_object(
            "v1",
            "Secret",
            AUTH_SECRET,
            NAMESPACE,
            type="Opaque",
            stringData={"basic_auth.ini": basic_auth_ini(password, "sqlite:////tmp/basic_auth.db")},
        )
        secrets = [auth]
        if args.collector_password is not None:
            secrets.append(users_secret({COLLECTOR_USER: args.collector_password}))
        if args.storage_identity is not None:
            identity = args.storage_identity
            secrets.append(s3_credentials_secret(NAMESPACE, identity, aws_credentials_file(identity), S3_SECRET))
        credentials = object_group(f"{name}-secrets", secrets, child)
        object_group(
            f"{name}-server",
            mlflow_server_objects(args.spec),
            child_of(self, opts, operator, credentials),
        )
        self.register_outputs({})
