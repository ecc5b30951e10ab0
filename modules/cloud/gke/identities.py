"""A Google service account per workload (modules/components/identities.py) with a role on exactly its
buckets, which its Kubernetes service account impersonates through workload identity."""

from __future__ import annotations

from cdktn import TerraformStack
from cdktn_provider_google import (
    container_cluster,
    service_account,
    service_account_iam_member,
    storage_bucket,
    storage_bucket_iam_member,
)

from modules.cloud.stack import declare
from modules.components.catalog import workloads
from modules.components.identities import GSA_MAX, Workload, cloud_name
from modules.spec import Spec

BUCKET_ROLE = {True: "roles/storage.objectAdmin", False: "roles/storage.objectViewer"}  # by Workload.writes


def workload_identity_member(spec: Spec, workload: Workload) -> str:
    return f"serviceAccount:{spec.cluster.project}.svc.id.goog[{workload.namespace}/{workload.service_account}]"


def declare_identities(
    stack: TerraformStack,
    spec: Spec,
    cluster: container_cluster.ContainerCluster,
    buckets: dict[str, storage_bucket.StorageBucket],
) -> dict[str, service_account.ServiceAccount]:
    """Workload name -> its Google service account."""
    return {w.name: _workload_account(stack, spec, w, cluster, buckets) for w in workloads(spec)}


def _workload_account(
    stack: TerraformStack,
    spec: Spec,
    workload: Workload,
    cluster: container_cluster.ContainerCluster,
    buckets: dict[str, storage_bucket.StorageBucket],
) -> service_account.ServiceAccount:
    account = declare(
        service_account.ServiceAccount,
        stack,
        f"identity-{workload.name}",
        account_id=cloud_name(spec, workload, GSA_MAX),
        display_name=f"cnai {workload.name}",
    )
    for logical in workload.buckets:
        declare(
            storage_bucket_iam_member.StorageBucketIamMember,
            stack,
            f"identity-{workload.name}-{logical}",
            bucket=buckets[logical].name,
            role=BUCKET_ROLE[workload.writes],
            member=f"serviceAccount:{account.email}",
        )
    # The workload pool exists once the cluster does.
    declare(
        service_account_iam_member.ServiceAccountIamMember,
        stack,
        f"identity-{workload.name}-binding",
        service_account_id=account.name,
        role="roles/iam.workloadIdentityUser",
        member=workload_identity_member(spec, workload),
        depends_on=[cluster],
    )
    return account
