"""Small builders of environment specs for unit tests, so that editing a shipped environment
(stacks/platform/Pulumi.<env>.yaml) in a fork breaks no unit test.

Nothing here reads a file: not the stack files, not the blueprints. Every builder returns a fresh
document (a plain dict, the shape `modules.spec.merged_document` returns: the blueprint's settings and
the environment's overrides already merged, `name` set), so a test may mutate it, then validate it with
`spec(document)`. Every document lists all eight components, each a mapping, so a test can flip one:
`document["components"]["kserve"]["enabled"] = False`.

- `gpu_pool`, `host`, `quota`, `team`: the parts.
- `local_document`, `kind_document`, `onprem_document` (target existing), `eks_document`,
  `gke_document`: the minimal valid document of each target, with arguments for the facts a test needs.
- `dev_like`, `prod_like`, `kind_like`, `onprem_like`: documents composed from the builders with the
  shapes many tests rely on (spot, time-slicing, MIG, two pools, teams with quotas, bare-metal hosts).
  They are named after the shipped environment whose role they play in tests, but are not copies of it:
  a fork may change its environments freely. `stand_in(env)` returns the one for a shipped name, and
  `stand_in_spec(env)` the same validated (where a test would have loaded the shipped one by name).
- `stack_file`, `write_stacks`, `use_stacks`: builder documents as stack files in a scratch folder, for
  code under test that loads an environment by name (`cnai` subcommands, the doctor, the sim).

Tests whose subject IS a shipped environment (tests/spec/test_environments.py, goldens of what the
shipped environments render, CLI tests running shipped commands) keep loading it with `load_spec`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack

import pytest
import yaml

from modules.endpoints import COMPONENTS  # the eight components a document lists
from modules.spec import Spec, validate
from modules.spec.loader import deep_merge

Document = dict[str, Any]

BLUEPRINT = "reference"  # the blueprint name documents carry (a label here: nothing is merged from it)
BUCKETS = ("mlflow-artifacts", "models", "datasets", "milvus")  # Milvus keeps its segments in "milvus"
OFFICE_CIDR = "203.0.113.0/24"  # TEST-NET-3: an office / VPN egress range that is nobody's


def generated() -> Document:
    """A secret generated at install time (the only kind a builder uses: never plaintext)."""
    return {"generate": True}


# --- parts ------------------------------------------------------------------------------------------


def host(name: str, address: str, user: str | None = None) -> Document:
    """A bare-metal node of a pool (target existing)."""
    return {"name": name, "address": address} | ({"user": user} if user else {})


def gpu_pool(
    name: str = "gpu",
    accelerator: str = "nvidia-l4",
    *,
    gpus_per_node: int = 1,
    nodes: int = 1,
    min_nodes: int = 0,
    spot: bool = False,
    time_slicing: int | None = None,
    mig: str | None = None,
    hosts: Iterable[Document] = (),
) -> Document:
    """A GPU pool of up to `nodes` nodes; `time_slicing=replicas` or `mig=profile` shares its GPUs."""
    if time_slicing is not None and mig is not None:
        raise ValueError("a pool is time-sliced or MIG-partitioned, not both")
    pool: Document = {
        "name": name,
        "accelerator": accelerator,
        "gpus_per_node": gpus_per_node,
        "min_nodes": min_nodes,
        "max_nodes": nodes,
    }
    if spot:
        pool["spot"] = True
    if time_slicing is not None:
        pool["sharing"] = {"mode": "time-slicing", "replicas": time_slicing}
    elif mig is not None:
        pool["sharing"] = {"mode": "mig", "mig_profile": mig}
    else:
        pool["sharing"] = {"mode": "none"}
    hosts = [copy.deepcopy(h) for h in hosts]
    if hosts:
        pool["hosts"] = hosts
    return pool


def quota(pool: str, gpus: int, borrowing_limit: int | None = None) -> Document:
    """A team's GPU quota on one pool, in schedulable units (shares, MIG slices)."""
    return {"pool": pool, "gpus": gpus} | ({} if borrowing_limit is None else {"borrowing_limit": borrowing_limit})


def team(
    name: str = "research",
    *quotas: Document,
    cpu: int | None = None,
    memory_gib: int | None = None,
    namespace: str | None = None,
) -> Document:
    """A tenant; unset cpu / memory_gib take the model's defaults."""
    entry: Document = {"name": name}
    for key, value in (("namespace", namespace), ("cpu", cpu), ("memory_gib", memory_gib)):
        if value is not None:
            entry[key] = value
    entry["gpu_quotas"] = [copy.deepcopy(q) for q in quotas]
    return entry


def components(base: Mapping[str, Mapping[str, Any]] | None = None, **overrides: Mapping[str, Any]) -> Document:
    """All eight components, enabled, with `base` then `overrides` merged into them, component by component."""
    merged: Document = {name: {"enabled": True} for name in COMPONENTS}
    merged["object_storage"]["buckets"] = list(BUCKETS)
    for layer in (base or {}, overrides):
        for name, settings in layer.items():
            merged[name] = deep_merge(merged[name], copy.deepcopy(dict(settings)))
    return merged


def _document(
    name: str,
    cluster: Mapping[str, Any],
    gpu_pools: Iterable[Document],
    teams: Iterable[Document],
    target_components: Mapping[str, Mapping[str, Any]],
    component_overrides: Mapping[str, Mapping[str, Any]] | None,
    cluster_overrides: Mapping[str, Any] | None,
) -> Document:
    return {
        "name": name,
        "blueprint": BLUEPRINT,
        "description": "",
        "cluster": deep_merge(copy.deepcopy(dict(cluster)), copy.deepcopy(dict(cluster_overrides or {}))),
        "gpu_pools": [copy.deepcopy(p) for p in gpu_pools],
        "teams": [copy.deepcopy(t) for t in teams],
        "components": components(target_components, **(component_overrides or {})),
    }


# Secrets every cluster target needs for the components it runs (MLflow auth, Grafana, in-cluster S3).
CLUSTER_SECRETS: dict[str, Document] = {
    "mlflow": {"admin_password": generated()},
    "observability": {"grafana_admin_password": generated()},
}


# --- one minimal document per target ------------------------------------------------------------------


def local_document(name: str = "local", *, components: Mapping[str, Mapping[str, Any]] | None = None) -> Document:
    """The local data plane: no cluster components, MLflow on SQLite without auth, no team."""
    local = {
        "gpu_operator": {"enabled": False},
        "cert_manager": {"enabled": False},
        "kueue": {"enabled": False},
        "mlflow": {"backend": "sqlite", "auth": False},
        "object_storage": {"provider": "seaweedfs", "credentials": generated()},
    }
    return _document(name, {"target": "local"}, (), (), local, components, None)


def kind_document(
    name: str = "kind",
    *,
    gpu_pools: Iterable[Document] = (),
    teams: Iterable[Document] | None = None,
    components: Mapping[str, Mapping[str, Any]] | None = None,
    cluster: Mapping[str, Any] | None = None,
) -> Document:
    """A CPU-only kind cluster: no GPU Operator, KServe with the CPU runtime only, SeaweedFS in the cluster."""
    teams = [team()] if teams is None else teams
    kind = CLUSTER_SECRETS | {
        "gpu_operator": {"enabled": False},
        "kserve": {"runtimes": ["mlserver"]},
        "object_storage": {"credentials": generated()},
    }
    return _document(name, {"target": "kind"}, gpu_pools, teams, kind, components, cluster)


def onprem_document(
    name: str = "onprem",
    *,
    gpu_pools: Iterable[Document] | None = None,
    teams: Iterable[Document] | None = None,
    kube_context: str = "onprem-admin",
    components: Mapping[str, Mapping[str, Any]] | None = None,
    cluster: Mapping[str, Any] | None = None,
) -> Document:
    """An existing cluster with bare-metal GPU nodes (one L40S host unless `gpu_pools` says otherwise);
    the node roles (modules/nodes) install the driver and the toolkit."""
    if gpu_pools is None:
        gpu_pools = [gpu_pool("l40s", "nvidia-l40s", hosts=[host("gpu-01", "10.0.0.11")])]
    teams = [team()] if teams is None else teams
    existing = CLUSTER_SECRETS | {
        "gpu_operator": {"driver": "preinstalled", "toolkit": "preinstalled"},
        "object_storage": {"credentials": generated()},
    }
    target = {"target": "existing", "kube_context": kube_context}
    return _document(name, target, gpu_pools, teams, existing, components, cluster)


class CloudParts(TypedDict, total=False):
    """What a cloud builder takes besides its place: pools and teams (instead of one on-demand L4 pool and
    the team research), component and cluster settings (merged over the target's)."""

    gpu_pools: Iterable[Document]
    teams: Iterable[Document]
    components: Mapping[str, Mapping[str, Any]]
    cluster: Mapping[str, Any]


def _cloud_document(name: str, target: Document, settings: Document, parts: CloudParts) -> Document:
    pools = parts.get("gpu_pools", [gpu_pool("l4", "nvidia-l4")])
    teams = parts.get("teams", [team()])
    settings = CLUSTER_SECRETS | settings
    return _document(name, target, pools, teams, settings, parts.get("components"), parts.get("cluster"))


def eks_document(
    name: str = "eks",
    *,
    region: str = "us-east-1",
    zones: Iterable[str] = ("us-east-1a", "us-east-1b"),
    **parts: Unpack[CloudParts],
) -> Document:
    """EKS in two zones with one on-demand L4 pool (unless `gpu_pools` says otherwise), S3 buckets."""
    eks = {"object_storage": {"provider": "s3", "bucket_prefix": f"acme-cnai-{name}"}}
    return _cloud_document(name, {"target": "eks", "region": region, "zones": list(zones)}, eks, parts)


def gke_document(
    name: str = "gke",
    *,
    region: str = "europe-west4",
    project: str = "acme-cnai-test",
    zones: Iterable[str] = ("europe-west4-a", "europe-west4-b"),
    **parts: Unpack[CloudParts],
) -> Document:
    """GKE with one L4 pool (unless `gpu_pools` says otherwise), GKE's driver, GCS buckets."""
    gke = {
        "gpu_operator": {"driver": "preinstalled"},
        "object_storage": {"provider": "gcs", "bucket_prefix": f"acme-cnai-{name}"},
    }
    target = {"target": "gke", "region": region, "project": project, "zones": list(zones)}
    return _cloud_document(name, target, gke, parts)


# --- the shapes tests rely on, composed ------------------------------------------------------------


def dev_like() -> Document:
    """An EKS environment named dev: one spot A10G pool time-sliced 4 ways (0..4 nodes of g5.xlarge),
    two teams borrowing differently, S3 state and buckets, the AMI's driver, an API CIDR."""
    pool = gpu_pool("a10g-spot", "nvidia-a10g", nodes=4, spot=True, time_slicing=4)
    return eks_document(
        "dev",
        gpu_pools=[pool],
        teams=[
            team("research", quota("a10g-spot", 8, 8), cpu=16, memory_gib=64),
            team("apps", quota("a10g-spot", 8, 0), cpu=8, memory_gib=32),
        ],
        cluster={"state": {"backend": "s3", "bucket": "acme-cnai-tfstate"}, "api_access_cidrs": [OFFICE_CIDR]},
        components={"gpu_operator": {"driver": "preinstalled"}},
    )


def prod_like() -> Document:
    """A GKE environment named prod: an H100 training pool (8 GPUs a node, 0..4 nodes) and an A100 pool
    partitioned by MIG 1g.10gb (1..2 nodes), two teams with quotas on both, protected, GCS state and
    buckets, Milvus in cluster mode."""
    return gke_document(
        "prod",
        project="acme-cnai-prod",
        gpu_pools=[
            gpu_pool("h100-train", "nvidia-h100-80gb", gpus_per_node=8, nodes=4),
            gpu_pool("a100-mig", "nvidia-a100-80gb", gpus_per_node=8, min_nodes=1, nodes=2, mig="1g.10gb"),
        ],
        teams=[
            team("research", quota("h100-train", 24, 8), quota("a100-mig", 14), cpu=128, memory_gib=1024),
            team("serving", quota("a100-mig", 98, 0), quota("h100-train", 8, 0), cpu=64, memory_gib=256),
        ],
        cluster={
            "state": {"backend": "gcs", "bucket": "acme-cnai-tfstate"},
            "api_access_cidrs": [OFFICE_CIDR],
            "protect": True,
        },
        components={"observability": {"retention": "30d"}, "vector_db": {"mode": "cluster"}},
    )


def kind_like() -> Document:
    """A kind cluster with one emulated T4 pool (a worker carrying its labels and taint) and one team."""
    return kind_document(
        gpu_pools=[gpu_pool("emulated-t4", "nvidia-t4", min_nodes=1, nodes=1)],
        teams=[team("research", cpu=4, memory_gib=8)],
        cluster={"kube_context": "kind-cnai"},
        components={"kserve": {"min_replicas": 1, "max_replicas": 1}},
    )


def onprem_like() -> Document:
    """An existing cluster with two bare-metal pools: L40S (4 GPUs a node, one host) and A100 partitioned
    by MIG 1g.10gb (8 GPUs, one host), two teams with quotas."""
    return onprem_document(
        gpu_pools=[
            gpu_pool(
                "l40s",
                "nvidia-l40s",
                gpus_per_node=4,
                min_nodes=1,
                nodes=2,
                hosts=[host("gpu-l40s-01", "10.20.0.11", "ops")],
            ),
            gpu_pool(
                "a100-mig",
                "nvidia-a100-80gb",
                gpus_per_node=8,
                min_nodes=1,
                nodes=1,
                mig="1g.10gb",
                hosts=[host("gpu-a100-01", "10.20.0.21", "ops")],
            ),
        ],
        teams=[
            team("research", quota("a100-mig", 56), quota("l40s", 4, 4), cpu=32, memory_gib=128),
            team("apps", quota("l40s", 4, 0), cpu=16, memory_gib=64),
        ],
    )


STAND_INS: dict[str, Callable[[], Document]] = {
    "local": local_document,
    "kind": kind_like,
    "dev": dev_like,
    "prod": prod_like,
    "onprem": onprem_like,
}
CLUSTER_STAND_INS = ("dev", "kind", "onprem", "prod")
CLOUD_STAND_INS = ("dev", "prod")


def stand_in(env: str) -> Document:
    """The builder document that plays the shipped environment `env`'s role in tests."""
    return STAND_INS[env]()


def spec(document: Mapping[str, Any]) -> Spec:
    """The document validated (a copy: the caller's document is left as it was)."""
    return validate(document["name"], copy.deepcopy(dict(document)))


def stand_in_spec(env: str) -> Spec:
    """`stand_in(env)` validated: what a unit test uses where it would have loaded the shipped `env`."""
    return spec(stand_in(env))


# --- as stack files, for code that loads an environment by name ----------------------------------------


def stack_file(document: Mapping[str, Any]) -> Document:
    """The Pulumi stack file that holds `document` (its name comes from the file name, not the file)."""
    spec_document = {k: copy.deepcopy(v) for k, v in document.items() if k != "name"}
    return {"config": {"cnai:spec": spec_document}}


def write_stacks(folder: Path, documents: Iterable[Mapping[str, Any]]) -> tuple[Path, Path]:
    """`folder`/stacks with a stack file per document and `folder`/blueprints with an empty blueprint of
    each name used, so that loading them merges nothing from the shipped blueprints."""
    stacks, blueprints = folder / "stacks", folder / "blueprints"
    stacks.mkdir(parents=True, exist_ok=True)
    blueprints.mkdir(parents=True, exist_ok=True)
    for document in documents:
        (stacks / f"Pulumi.{document['name']}.yaml").write_text(yaml.safe_dump(stack_file(document), sort_keys=False))
        (blueprints / f"{document['blueprint']}.yaml").write_text("{}\n")
    return stacks, blueprints


def use_stacks(monkeypatch: pytest.MonkeyPatch, folder: Path, documents: Iterable[Mapping[str, Any]]) -> Path:
    """Point CNAI_STACKS and CNAI_BLUEPRINTS (this process and the commands it starts) at builder documents."""
    stacks, blueprints = write_stacks(folder, documents)
    monkeypatch.setenv("CNAI_STACKS", str(stacks))
    monkeypatch.setenv("CNAI_BLUEPRINTS", str(blueprints))
    return stacks
