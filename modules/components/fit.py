"""Does every workload cnai places on a GPU pool fit one of the pool's nodes? A pod whose requests exceed
its node's allocatable stays Pending forever, silently; the scheduler says so only in an event. The
node's allocatable is its instance type's vCPUs and memory after the cloud's kubelet reservation
(modules/spec/instances.py, the figures the sim's nodes carry). Pure: spec in, findings out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes.utils import parse_quantity

from modules.components.contents import all_objects
from modules.components.kserve import GPU_RUNTIMES, kserve_objects
from modules.components.references import pod_specs
from modules.spec import Spec
from modules.spec.errors import SpecError
from modules.spec.instances import INSTANCE_SHAPES, Allocatable, allocatable
from modules.spec.models import GpuPool

CLOUDS = ("eks", "gke")


@dataclass(frozen=True)
class Requests:
    cpu_millis: int
    memory_mib: int


def container_requests(containers: list[dict[str, Any]]) -> Requests:
    cpu = sum(parse_quantity(c.get("resources", {}).get("requests", {}).get("cpu", "0")) for c in containers)
    memory = sum(parse_quantity(c.get("resources", {}).get("requests", {}).get("memory", "0")) for c in containers)
    return Requests(int(cpu * 1000), int(memory / 2**20))


def pod_requests(pod: dict[str, Any]) -> Requests:
    """What the scheduler reserves for a pod: its containers together, or its largest init container."""
    running = container_requests(pod.get("containers") or [])
    inits = [container_requests([c]) for c in pod.get("initContainers") or []]
    return Requests(
        max([running.cpu_millis, *(i.cpu_millis for i in inits)]),
        max([running.memory_mib, *(i.memory_mib for i in inits)]),
    )


def pool_node(spec: Spec, pool: GpuPool) -> tuple[str, Allocatable] | None:
    """(instance type, allocatable) of the pool's nodes on a cloud; None where cnai does not pick the
    machine (kind, bare-metal hosts)."""
    target = spec.cluster.target
    if target not in CLOUDS:
        return None
    types = pool.facts.eks_instance_types if target == "eks" else pool.facts.gke_machine_types
    instance = types[pool.gpus_per_node]
    return instance, allocatable(target, INSTANCE_SHAPES[instance])


def pool_workloads(spec: Spec) -> Iterator[tuple[str, GpuPool, Requests]]:
    """(workload, pool, requests) for every pod cnai pins to a pool by node selector, and for each GPU
    runtime on every pool (an InferenceService may put it on any)."""
    for owner, pod, _ in pod_specs(all_objects(spec)):
        selector = pod.get("nodeSelector") or {}
        for pool in spec.gpu_pools:
            if pool.node_labels.items() <= selector.items():
                who = f"{owner['kind']} {owner['metadata'].get('namespace', '')}/{owner['metadata']['name']}"
                yield who, pool, pod_requests(pod)
    runtimes = {o["metadata"]["name"]: o for o in kserve_objects(spec) if o["kind"] == "ClusterServingRuntime"}
    for name in sorted(f"cnai-{r}" for r in GPU_RUNTIMES if f"cnai-{r}" in runtimes):
        for pool in spec.gpu_pools:
            yield f"ClusterServingRuntime {name}", pool, pod_requests(runtimes[name]["spec"])


def fit_errors(spec: Spec) -> list[SpecError]:
    errors = []
    index = {pool.name: i for i, pool in enumerate(spec.gpu_pools)}
    for who, pool, wants in pool_workloads(spec):
        node = pool_node(spec, pool)
        if node is None:
            continue
        instance, offers = node
        if wants.cpu_millis > offers.cpu_millis or wants.memory_mib > offers.memory_mib:
            errors.append(
                SpecError(
                    f"gpu_pools[{index[pool.name]}]",
                    pool.name,
                    f"{who} requests {wants.cpu_millis}m CPU and {wants.memory_mib} MiB; a {instance} node of pool "
                    f"{pool.name} has {offers.cpu_millis}m and {offers.memory_mib} MiB allocatable "
                    "(after the kubelet's reservation). Lower the workload's requests or pick a larger node "
                    "(gpus_per_node)",
                )
            )
    return errors
