"""Kueue: batch admission. Flavors, queues and quotas derive from the spec's GPU pools and teams."""

from __future__ import annotations

from typing import Any

import yaml

from modules.components.objects import k8s_object
from modules.components.registry import Component, Release
from modules.spec import GpuPool, Spec, Team
from modules.spec.models import GPU_RESOURCE, GpuQuota
from modules.spec.namespaces import PLATFORM_NAMESPACES

API = "kueue.x-k8s.io/v1beta2"
NAMESPACE = PLATFORM_NAMESPACES["kueue"]
CPU_FLAVOR = "cnai-cpu"
PRIORITIES = {"prod": 1000, "dev": 100, "smoke": 10}


def flavor_name(pool: GpuPool) -> str:
    return f"gpu-{pool.name}"


def resource_flavors(spec: Spec) -> list[dict[str, Any]]:
    """One flavor per GPU pool (selects its nodes, tolerates its taint), plus one for CPU work."""
    flavors = [k8s_object(API, "ResourceFlavor", CPU_FLAVOR, spec={})]
    for pool in spec.gpu_pools:
        flavor_spec = {"nodeLabels": pool.node_labels, "tolerations": pool.tolerations}
        flavors.append(k8s_object(API, "ResourceFlavor", flavor_name(pool), spec=flavor_spec))
    return flavors


def quota_ceiling(spec: Spec, quota: GpuQuota) -> int:
    """The most GPU units a quota lets its team hold on its pool: nominal plus what it may borrow (all
    the pool without a borrowing limit), never more than the pool has."""
    capacity = spec.pool(quota.pool).max_gpu_slots
    borrow = quota.borrowing_limit if quota.borrowing_limit is not None else capacity - quota.gpus
    return min(capacity, quota.gpus + borrow)


def _gpu_flavors(spec: Spec, team: Team) -> list[dict[str, Any]]:
    flavors = []
    for quota in team.gpu_quotas:
        resource: dict[str, Any] = {"name": GPU_RESOURCE, "nominalQuota": str(quota.gpus)}
        if quota.borrowing_limit is not None:
            resource["borrowingLimit"] = str(quota.borrowing_limit)
        flavors.append({"name": flavor_name(spec.pool(quota.pool)), "resources": [resource]})
    return flavors


def cluster_queue(spec: Spec, team: Team) -> dict[str, Any]:
    kueue = spec.components.kueue
    groups = [
        {
            "coveredResources": ["cpu", "memory"],
            "flavors": [
                {
                    "name": CPU_FLAVOR,
                    "resources": [
                        # Quantities as the API server returns them (strings): as numbers, every
                        # `pulumi up` would see a change from "16" to 16 (the sim showed it).
                        {"name": "cpu", "nominalQuota": str(team.cpu)},
                        {"name": "memory", "nominalQuota": f"{team.memory_gib}Gi"},
                    ],
                }
            ],
        }
    ]
    gpu_flavors = _gpu_flavors(spec, team)
    if gpu_flavors:
        groups.append({"coveredResources": [GPU_RESOURCE], "flavors": gpu_flavors})
    queue_spec: dict[str, Any] = {
        "cohortName": kueue.cohort,
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": team.namespace_name}},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": groups,
        "preemption": {
            "withinClusterQueue": kueue.preemption_within_queue,
            "reclaimWithinCohort": kueue.reclaim_within_cohort,
        },
    }
    if kueue.fair_sharing:
        queue_spec["fairSharing"] = {"weight": "1"}
    else:
        # Classical preemption only: with fair sharing Kueue ignores it (shares decide), as the sim showed.
        queue_spec["preemption"]["borrowWithinCohort"] = {
            "policy": "LowerPriority",
            "maxPriorityThreshold": PRIORITIES["dev"],
        }
    return k8s_object(API, "ClusterQueue", team.name, spec=queue_spec)


def local_queue(team: Team) -> dict[str, Any]:
    return k8s_object(API, "LocalQueue", team.name, team.namespace_name, spec={"clusterQueue": team.name})


def priority_classes() -> list[dict[str, Any]]:
    return [
        k8s_object(API, "WorkloadPriorityClass", name, value=value, description=f"cnai {name} workloads")
        for name, value in PRIORITIES.items()
    ]


def kueue_objects(spec: Spec) -> list[dict[str, Any]]:
    """Every Kueue object cnai authors for an environment (empty when Kueue is disabled)."""
    if not spec.components.kueue.enabled:
        return []
    cohort = k8s_object(API, "Cohort", spec.components.kueue.cohort, spec={})
    return [
        *resource_flavors(spec),
        cohort,
        *priority_classes(),
        *(cluster_queue(spec, t) for t in spec.teams),
        *(local_queue(t) for t in spec.teams),
    ]


def kueue_manager_config(spec: Spec) -> dict[str, Any]:
    """Kueue's Configuration: gang admission (waitForPodsReady), fair sharing, queue metrics."""
    kueue = spec.components.kueue
    config: dict[str, Any] = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "metrics": {"enableClusterQueueResources": True},
        "integrations": {"frameworks": ["batch/job", "jobset.x-k8s.io/jobset", "pod"]},
    }
    if kueue.wait_for_pods_ready:
        config["waitForPodsReady"] = {
            "timeout": f"{kueue.pods_ready_timeout_seconds}s",
            "blockAdmission": True,
            "requeuingStrategy": {"timestamp": "Eviction", "backoffLimitCount": 5},
        }
    if kueue.fair_sharing:
        config["fairSharing"] = {"preemptionStrategies": ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]}
    return config


def kueue_values(spec: Spec) -> dict[str, Any]:
    """Helm values of the Kueue chart."""
    return {
        "enablePrometheus": spec.components.observability.enabled,
        "enableCertManager": spec.components.cert_manager.enabled,
        "controllerManager": {"replicas": 2 if spec.cluster.protect else 1},
        "managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(kueue_manager_config(spec), sort_keys=False)},
    }


COMPONENT = Component(
    key="kueue",
    name="kueue",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.kueue.enabled,
    releases=(Release("kueue", "chart", kueue_values),),
    objects=kueue_objects,
    objects_resource="queues",
    wait_ready=True,
    # JobSet's CRDs exist when Kueue starts its jobset integration; with cert-manager, Kueue's chart
    # renders Certificates and an Issuer.
    after=("jobset", "cert_manager"),
    api_client="Kueue's controller",
    api_callbacks=(9443, 8082),  # webhooks; the visibility API server
    pulumi_type="Kueue",
)
