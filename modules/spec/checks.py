"""Cross-field rules of the spec. Each check yields SpecErrors with the exact field path."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from modules.spec.accelerators import ACCELERATORS
from modules.spec.errors import SpecError
from modules.spec.models import CLOUD_TARGETS, GpuPool, Spec
from modules.spec.namespaces import namespace_owner

Check = Callable[[Spec], Iterator[SpecError]]

# Every check is linear in the size of the spec: lists are counted once, never searched per item.
MAX_NAMED = 10  # names listed in one message ("declared: a, b, ... (+n more)")


def _duplicates(values: Iterable[str]) -> set[str]:
    return {v for v, n in Counter(values).items() if n > 1}


def _listing(names: Iterable[str], empty: str = "(none)") -> str:
    names = sorted(names)
    shown = ", ".join(names[:MAX_NAMED]) or empty
    return shown if len(names) <= MAX_NAMED else f"{shown}, ... (+{len(names) - MAX_NAMED} more)"


def check_cluster(spec: Spec) -> Iterator[SpecError]:
    cluster = spec.cluster
    if cluster.target in CLOUD_TARGETS and not cluster.region:
        yield SpecError("cluster.region", None, f"required for target {cluster.target}")
    if cluster.target == "eks" and len(cluster.zones) < 2:
        yield SpecError("cluster.zones", cluster.zones, "EKS needs at least 2 zones")
    zone_dupes = _duplicates(cluster.zones)
    for i, zone in enumerate(cluster.zones):
        if cluster.region and not zone.startswith(cluster.region):
            yield SpecError(f"cluster.zones[{i}]", zone, f"zone is not in region {cluster.region}")
        if zone in zone_dupes:
            yield SpecError(f"cluster.zones[{i}]", zone, "zone listed twice")
    if cluster.target == "gke" and not cluster.project:
        yield SpecError("cluster.project", None, "required for target gke (the Google Cloud project id)")
    yield from _check_api_access(spec)
    yield from _check_state(spec)


PUBLIC_PREFIX = 8  # a range wider than a /8 is most of somebody else's internet, not an office or a VPN


def _check_api_access(spec: Spec) -> Iterator[SpecError]:
    cluster = spec.cluster
    dupes = _duplicates(cluster.api_access_cidrs)
    for i, entry in enumerate(cluster.api_access_cidrs):
        path = f"cluster.api_access_cidrs[{i}]"
        try:
            network = ipaddress.IPv4Network(entry, strict=True)
        except ValueError as exc:
            yield SpecError(path, entry, f"not an IPv4 CIDR such as 203.0.113.0/24: {exc}")
            continue
        if entry in dupes:
            yield SpecError(path, entry, "CIDR listed twice")
        if network.prefixlen < PUBLIC_PREFIX and not cluster.allow_public_api:
            whom = "the whole internet" if network.prefixlen == 0 else f"{network.num_addresses} addresses"
            yield SpecError(
                path,
                entry,
                f"opens the Kubernetes API to {whom}: use your office/VPN egress ranges, "
                "or set cluster.allow_public_api: true if you really mean it",
            )


STATE_BACKENDS = {"eks": ("local", "s3"), "gke": ("local", "gcs")}


def _check_state(spec: Spec) -> Iterator[SpecError]:
    state, target = spec.cluster.state, spec.cluster.target
    if state.backend == "local" and state.bucket is None:
        return
    allowed = STATE_BACKENDS.get(target, ())
    if state.backend not in allowed:
        hint = f"allowed on {target}: {', '.join(allowed)}" if allowed else "only eks and gke have a cloud stack"
        yield SpecError("cluster.state.backend", state.backend, hint)
    if state.backend != "local" and state.bucket is None:
        yield SpecError("cluster.state.bucket", None, f"the {state.backend} backend needs the state bucket's name")
    if state.backend == "local" and state.bucket is not None:
        yield SpecError("cluster.state.bucket", state.bucket, "only with backend s3 or gcs")


def _check_sharing(i: int, pool: GpuPool) -> Iterator[SpecError]:
    sharing, path = pool.sharing, f"gpu_pools[{i}].sharing"
    facts = ACCELERATORS.get(pool.accelerator)
    if sharing.mode == "time-slicing" and sharing.replicas is None:
        yield SpecError(f"{path}.replicas", None, "time-slicing needs replicas (2..64)")
    if sharing.mode != "time-slicing" and sharing.replicas is not None:
        yield SpecError(f"{path}.replicas", sharing.replicas, "only allowed with mode: time-slicing")
    if sharing.mode != "mig" and sharing.mig_profile is not None:
        yield SpecError(f"{path}.mig_profile", sharing.mig_profile, "only allowed with mode: mig")
    if sharing.mode != "mig" or facts is None:
        return
    if not facts.supports_mig:
        yield SpecError(f"{path}.mig_profile", sharing.mig_profile, f"{pool.accelerator} does not support MIG")
    elif sharing.mig_profile not in facts.mig_profiles:
        allowed = ", ".join(facts.mig_profiles)
        yield SpecError(f"{path}.mig_profile", sharing.mig_profile, f"allowed for {pool.accelerator}: {allowed}")


def _check_cloud_shape(i: int, pool: GpuPool, target: str, region: str | None) -> Iterator[SpecError]:
    """The cloud must offer a node shape with exactly this many of this GPU, in the region, as spot if asked."""
    facts = ACCELERATORS[pool.accelerator]
    shapes = facts.eks_instance_types if target == "eks" else facts.gke_machine_types
    if not shapes or (target == "gke" and facts.gke_accelerator is None):
        yield SpecError(f"gpu_pools[{i}].accelerator", pool.accelerator, f"not offered on {target.upper()}")
        return
    if pool.gpus_per_node not in shapes:
        allowed = ", ".join(str(n) for n in sorted(shapes))
        yield SpecError(
            f"gpu_pools[{i}].gpus_per_node",
            pool.gpus_per_node,
            f"{target.upper()} offers {pool.accelerator} with {allowed} per node",
        )
    if region and region not in facts.regions(target):
        offered = ", ".join(facts.regions(target))
        yield SpecError(
            f"gpu_pools[{i}].accelerator",
            pool.accelerator,
            f"not offered in {target.upper()} region {region}; regions in the registry: {offered}",
        )
    if pool.spot and not facts.spot_offered(target):
        yield SpecError(f"gpu_pools[{i}].spot", True, f"{target.upper()} sells {pool.accelerator} nodes on demand only")


def check_pools(spec: Spec) -> Iterator[SpecError]:
    dupes = _duplicates([p.name for p in spec.gpu_pools])
    for i, pool in enumerate(spec.gpu_pools):
        if pool.name in dupes:
            yield SpecError(f"gpu_pools[{i}].name", pool.name, "duplicate pool name")
        facts = ACCELERATORS.get(pool.accelerator)
        if facts is None:
            allowed = ", ".join(sorted(ACCELERATORS))
            yield SpecError(f"gpu_pools[{i}].accelerator", pool.accelerator, f"unknown accelerator; known: {allowed}")
        elif spec.cluster.target in CLOUD_TARGETS:
            yield from _check_cloud_shape(i, pool, spec.cluster.target, spec.cluster.region)
        if pool.min_nodes > pool.max_nodes:
            yield SpecError(f"gpu_pools[{i}].min_nodes", pool.min_nodes, f"must be <= max_nodes ({pool.max_nodes})")
        elif pool.min_nodes and spec.cluster.target == "eks":
            yield SpecError(
                f"gpu_pools[{i}].min_nodes",
                pool.min_nodes,
                "0 on EKS: Karpenter scales GPU pools from zero on pending pods and keeps no minimum",
            )
        yield from _check_sharing(i, pool)
        yield from _check_hosts(i, pool, spec.cluster.target)
    host_dupes = _duplicates(h.name for p in spec.gpu_pools for h in p.hosts)
    for i, pool in enumerate(spec.gpu_pools):
        for j, host in enumerate(pool.hosts):
            if host.name in host_dupes:
                yield SpecError(f"gpu_pools[{i}].hosts[{j}].name", host.name, "a host belongs to one pool only")


def _check_hosts(i: int, pool: GpuPool, target: str) -> Iterator[SpecError]:
    if not pool.hosts:
        return
    if target != "existing":
        yield SpecError(
            f"gpu_pools[{i}].hosts",
            [h.name for h in pool.hosts],
            f"bare-metal hosts need target existing, not {target}",
        )
    if len(pool.hosts) > pool.max_nodes:
        yield SpecError(
            f"gpu_pools[{i}].hosts", len(pool.hosts), f"more hosts than max_nodes ({pool.max_nodes}) allows"
        )
    if pool.spot:
        yield SpecError(f"gpu_pools[{i}].spot", True, "bare-metal hosts are never spot capacity")


def check_teams(spec: Spec) -> Iterator[SpecError]:
    if spec.is_cluster and not spec.teams:
        yield SpecError(
            "teams",
            [],
            "a cluster environment needs at least one team: the smoke suite and served models run in a "
            "team's namespace (e.g. teams: [{name: research}])",
        )
    pools = {p.name: p for p in spec.gpu_pools if p.accelerator in ACCELERATORS}
    known = {p.name for p in spec.gpu_pools}
    declared = _listing(known, empty="(no gpu_pools declared)")
    dupes = _duplicates(t.name for t in spec.teams)
    ns_dupes = _duplicates(t.namespace_name for t in spec.teams)
    for i, team in enumerate(spec.teams):
        owner = namespace_owner(team.namespace_name, spec.cluster.target)
        ns_path = f"teams[{i}].namespace"
        if team.name in dupes:
            yield SpecError(f"teams[{i}].name", team.name, "duplicate team name")
        elif team.namespace_name in ns_dupes:
            yield SpecError(ns_path, team.namespace_name, "namespace used by another team")
        if owner is not None:
            yield SpecError(ns_path, team.namespace_name, f"namespace belongs to {owner}: choose another")
        quota_dupes = _duplicates(q.pool for q in team.gpu_quotas)
        for j, quota in enumerate(team.gpu_quotas):
            path = f"teams[{i}].gpu_quotas[{j}]"
            if quota.pool not in known:
                yield SpecError(f"{path}.pool", quota.pool, f"no such GPU pool; declared: {declared}")
                continue
            if quota.pool in quota_dupes:
                yield SpecError(f"{path}.pool", quota.pool, "pool listed twice for this team")
            pool = pools.get(quota.pool)
            if pool is not None and quota.gpus > pool.max_gpu_slots:
                yield SpecError(
                    f"{path}.gpus",
                    quota.gpus,
                    f"pool {pool.name} supplies at most {pool.max_gpu_slots} GPU units "
                    f"({pool.max_nodes} nodes x {pool.gpus_per_node} GPUs x {pool.slots_per_gpu} per GPU)",
                )


def check_components(spec: Spec) -> Iterator[SpecError]:
    c, target = spec.components, spec.cluster.target
    if spec.is_cluster and c.kserve.enabled and not c.cert_manager.enabled:
        yield SpecError("components.kserve.enabled", True, "KServe needs components.cert_manager.enabled: true")
    if spec.is_cluster and c.cert_manager.enabled and not c.kserve.enabled:
        yield SpecError(
            "components.cert_manager.enabled",
            True,
            "cert-manager is installed with KServe (components.kserve.enabled: false here), and Kueue would wait "
            "for certificates nothing issues: enable KServe or set cert_manager.enabled: false",
        )
    yield from _check_gpu_operator(spec)
    if c.mlflow.enabled and not c.object_storage.enabled:
        yield SpecError("components.mlflow.enabled", True, "MLflow needs components.object_storage.enabled: true")
    if c.kserve.enabled and not c.object_storage.enabled:
        yield SpecError("components.kserve.enabled", True, "KServe needs object storage for model files")
    if c.kserve.min_replicas > c.kserve.max_replicas:
        yield SpecError("components.kserve.min_replicas", c.kserve.min_replicas, "must be <= max_replicas")
    if "vllm" in c.kserve.runtimes and spec.is_cluster and c.kserve.enabled and not spec.gpu_pools:
        yield SpecError("components.kserve.runtimes", c.kserve.runtimes, "vllm needs at least one GPU pool")
    provider = c.object_storage.provider
    allowed_provider = {"eks": ("seaweedfs", "s3"), "gke": ("seaweedfs", "gcs")}.get(target, ("seaweedfs",))
    if c.object_storage.enabled and provider not in allowed_provider:
        yield SpecError(
            "components.object_storage.provider", provider, f"allowed on {target}: {', '.join(allowed_provider)}"
        )
    cloud_store = c.object_storage.enabled and provider in ("s3", "gcs")
    if cloud_store and c.object_storage.bucket_prefix is None:
        yield SpecError(
            "components.object_storage.bucket_prefix", None, f"{provider} bucket names are global: set a prefix"
        )
    if c.mlflow.enabled and c.mlflow.backend == "postgresql" and target == "local" and c.mlflow.database_url is None:
        yield SpecError("components.mlflow.database_url", None, "local PostgreSQL backend needs database_url")
    in_cluster_store = spec.is_cluster and c.object_storage.enabled and provider == "seaweedfs"
    if in_cluster_store and c.object_storage.credentials is None:
        yield SpecError(
            "components.object_storage.credentials", None, "SeaweedFS needs S3 keys: a secret (secure/env/generate)"
        )
    bucket_dupes = _duplicates(c.object_storage.buckets)
    for i, bucket in enumerate(c.object_storage.buckets):
        if bucket in bucket_dupes:
            yield SpecError(f"components.object_storage.buckets[{i}]", bucket, "bucket listed twice")
    if spec.is_cluster and c.vector_db.enabled and "milvus" not in c.object_storage.buckets:
        yield SpecError(
            "components.object_storage.buckets",
            c.object_storage.buckets,
            "Milvus keeps its segments in a 'milvus' bucket: add it",
        )
    grafana = c.observability.enabled and c.observability.grafana
    if spec.is_cluster and grafana and c.observability.grafana_admin_password is None:
        yield SpecError("components.observability.grafana_admin_password", None, "Grafana is on: set a secret")
    if spec.is_cluster and c.mlflow.enabled and c.mlflow.auth and c.mlflow.admin_password is None:
        yield SpecError("components.mlflow.admin_password", None, "auth is on: set a secret (secure/env/generate)")


def _check_gpu_operator(spec: Spec) -> Iterator[SpecError]:
    """Choices the target makes (modules/spec/gpu_functions.py): a setting that would give a GPU function a
    second owner, or one the target cannot run, is refused rather than ignored."""
    operator, target = spec.components.gpu_operator, spec.cluster.target
    if target in ("eks", "gke") and "toolkit" in operator.model_fields_set:
        yield SpecError(
            "components.gpu_operator.toolkit",
            operator.toolkit,
            f"on {target} the node image and the driver choice decide who installs the container toolkit "
            "(modules/spec/gpu_functions.py): remove the setting",
        )
    if target == "eks" and operator.mig_strategy == "mixed" and any(p.sharing.mode == "mig" for p in spec.gpu_pools):
        yield SpecError(
            "components.gpu_operator.mig_strategy",
            operator.mig_strategy,
            "on eks, Karpenter launches nodes for nvidia.com/gpu and knows no nvidia.com/mig-* resource, so a pod "
            "asking for a mixed-strategy slice would never get a node: allowed: single",
        )
    if target == "gke" and operator.driver == "operator" and spec.gpu_pools:
        yield SpecError(
            "components.gpu_operator.driver",
            operator.driver,
            "on gke, GKE's driver installer installs the driver (the operator's driver needs Ubuntu nodes, "
            "cnai builds Container-Optimized OS ones): allowed: preinstalled",
        )


def check_local(spec: Spec) -> Iterator[SpecError]:
    ports = spec.local.ports.model_dump()
    dupes = _duplicates([str(p) for p in ports.values()])
    for name, port in ports.items():
        if str(port) in dupes:
            yield SpecError(f"local.ports.{name}", port, "port used by another local server")


CHECKS: tuple[Check, ...] = (check_cluster, check_pools, check_teams, check_components, check_local)


def semantic_errors(spec: Spec) -> list[SpecError]:
    return [error for check in CHECKS for error in check(spec)]
