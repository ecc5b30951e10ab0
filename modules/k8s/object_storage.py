"""The Pulumi adapter of modules/components/object_storage.py: deploys what its builders return."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from modules.components.milvus import NAMESPACE as MILVUS_NAMESPACE
from modules.components.object_storage import (
    ADMIN_ACTIONS,
    COMPONENT,
    VECTOR_BUCKET,
    VECTOR_DB_CREDENTIALS_SECRET,
    S3Identity,
    bucket_actions,
    credential_secrets,
    s3_credentials_secret,
    s3_identities,
    tenant_actions,
)
from modules.k8s.generated import generated
from modules.k8s.pulumi_resources import child_of, helm_release, object_group, secret_value
from modules.spec import Spec


def aws_credentials_file(identity: S3Identity) -> pulumi.Output[str]:
    template = "[default]\naws_access_key_id = {0}\naws_secret_access_key = {1}\n"
    return pulumi.Output.secret(pulumi.Output.format(template, identity.access_key, identity.secret_key))


@dataclass(frozen=True)
class ObjectStorageArgs:
    spec: Spec  # the environment; buckets and credentials come from components.object_storage


class ObjectStorage(pulumi.ComponentResource):
    """SeaweedFS and its S3 credentials (Pulumi secrets, never plaintext in the program or state)."""

    def __init__(self, name: str, args: ObjectStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:ObjectStorage", name, None, opts)
        child = child_of(self, opts)
        ref = args.spec.components.object_storage.credentials
        assert ref is not None, "spec checks require credentials for an in-cluster object store"
        path = "components.object_storage.credentials"
        platform = S3Identity(
            "cnai-platform",
            secret_value(ref, f"{path}.access_key", f"{name}-access-key", child),
            secret_value(ref, f"{path}.secret_key", f"{name}-secret-key", child),
            ADMIN_ACTIONS,
        )
        # Per-tenant keys are always generated: a team's keys live only in its namespace's Secret.
        tenants = {
            team.namespace_name: S3Identity(
                f"team-{team.name}",
                generated(f"{name}-{team.name}-access-key", 20, child),
                generated(f"{name}-{team.name}-secret-key", 40, child),
                tenant_actions(args.spec),
            )
            for team in args.spec.teams
        }
        # Milvus gets keys to its own bucket, not the platform's admin keys; generated like the teams',
        # kept in a Secret in its namespace (its pods read them from there, never from chart values).
        vector = (
            S3Identity(
                "milvus",
                generated(f"{name}-milvus-access-key", 20, child),
                generated(f"{name}-milvus-secret-key", 40, child),
                bucket_actions(VECTOR_BUCKET),
            )
            if args.spec.components.vector_db.enabled
            else None
        )
        document = s3_identities([platform, *tenants.values(), *([vector] if vector else [])])
        identities = pulumi.Output.secret(pulumi.Output.json_dumps(document))
        objects = [
            *credential_secrets(platform.access_key, platform.secret_key, identities),
            *(s3_credentials_secret(ns, tenant, aws_credentials_file(tenant)) for ns, tenant in tenants.items()),
        ]
        if vector:
            objects.append(
                s3_credentials_secret(
                    MILVUS_NAMESPACE, vector, aws_credentials_file(vector), VECTOR_DB_CREDENTIALS_SECRET
                )
            )
        secrets = object_group(f"{name}-credentials", objects, child)
        release = helm_release(
            name, COMPONENT, COMPONENT.release("seaweedfs"), args.spec, child_of(self, opts, secrets)
        )
        self.platform_identity = platform
        self.register_outputs({"release": release.status})
