"""The pinned upstream charts, rendered offline with cnai's own values, and what the sim installs of them.

The sim runs controllers as local processes, so of a chart it installs the cluster-scoped contract:
CRDs, RBAC, service accounts and webhook configurations. Webhooks (and CRD conversion) that the chart
points at an in-cluster Service are pointed at the controller's loopback listener instead, with the
CA that signed its serving certificate (the API server cannot reach Service IPs here: no kube-proxy).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from modules.components import cert_manager
from modules.errors import CnaiError
from modules.spec.loader import REPO_ROOT
from modules.versions import bom, chart

# Kinds of a chart the sim installs; the rest (Deployments, Services, Secrets, APIServices, monitors)
# describe the in-cluster controller, which the sim runs as a process instead.
INSTALLED_KINDS = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",  # a controller's configuration (KServe's inferenceservice-config)
    "ClusterStorageContainer",  # KServe's storage-initializer container (its security context included)
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

# Charts of the platform whose CRDs the sim serves, so every kind cnai authors is validated by its real
# schema: BOM key -> (folder inside the chart holding the CRDs, values that make the chart render them).
# kube-prometheus-stack's CRDs are its `crds` subchart (the full chart needs subcharts the snapshot lacks).
CRD_CHARTS: dict[str, tuple[str, dict[str, Any]]] = {
    "kserve-crd": ("", {}),
    "envoy-gateway": ("", {}),
    "kube-prometheus-stack": ("charts/crds", {}),
    "cloudnative-pg": ("", {}),
    "cert-manager": ("", cert_manager.VALUES),
    "gpu-operator": ("", {}),  # ClusterPolicy, NVIDIADriver, NodeFeatureDiscovery's
    "karpenter-crd": ("", {}),  # NodePool, EC2NodeClass (EKS GPU pools)
    "keda": ("", {}),  # ScaledObject (what KServe makes of an LLM predictor's autoScaling)
}


class _ChartLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loading of chart output, where a lone `=` (YAML 1.1's `value` type, e.g. an enum of
    operators in the Gateway API CRDs) is the string it means to Kubernetes."""


_ChartLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


class ChartError(CnaiError):
    """The chart folder is missing or helm could not render it."""


def charts_dir() -> Path:
    """Where the unpacked pinned charts are: CNAI_CHARTS if set; else ../shared/charts beside the
    checkout where it exists (cnai's own machines); else ~/.cache/cnai/charts, which `cnai charts
    pull` fills from the BOM's repositories."""
    if "CNAI_CHARTS" in os.environ:
        return Path(os.environ["CNAI_CHARTS"])
    shared = REPO_ROOT.parent / "shared" / "charts"
    return shared if shared.is_dir() else Path.home() / ".cache" / "cnai" / "charts"


def pull_command(helm: str, name: str, into: Path) -> list[str]:
    """`helm pull` of BOM chart `name` at its pinned version, unpacked into `into/<chart>`."""
    pinned = chart(name)
    source = (
        [f"{pinned['repo']}/{pinned['chart']}"]
        if str(pinned["repo"]).startswith("oci://")
        else [str(pinned["chart"]), "--repo", str(pinned["repo"])]
    )
    return [helm, "pull", *source, "--version", str(pinned["version"]), "--untar", "--untardir", str(into)]


def pull(helm: str, name: str, into: Path) -> Path:
    """Fetch one pinned chart (skipped when the right version is already there)."""
    folder = into / str(chart(name)["chart"])
    meta = folder / "Chart.yaml"
    if meta.is_file() and str(yaml.safe_load(meta.read_text())["version"]).lstrip("v") == str(
        chart(name)["version"]
    ).lstrip("v"):
        return folder
    into.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(pull_command(helm, name, into), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ChartError(
            f"chart {name}: `helm pull` from {chart(name)['repo']} failed: {done.stderr.strip()[-600:]}. "
            "Fix: reach that repository (or set CNAI_CHARTS to a folder of unpacked charts)."
        )
    return folder


def chart_dir(name: str) -> Path:
    """The unpacked chart of BOM entry `name` (its folder is the chart's own name)."""
    folder = charts_dir() / str(chart(name)["chart"])
    meta = folder / "Chart.yaml"
    if not meta.is_file():
        raise ChartError(f"chart {name}: {meta} not found. Set CNAI_CHARTS to the folder of unpacked charts.")
    found = str(yaml.safe_load(meta.read_text())["version"])
    if found.lstrip("v") != str(chart(name)["version"]).lstrip("v"):
        raise ChartError(f"chart {name}: {folder} is version {found}, the BOM pins {chart(name)['version']}")
    return folder


def missing_subcharts(folder: Path) -> list[dict[str, Any]]:
    """Dependencies a chart folder declares but does not carry under charts/ (neither unpacked nor .tgz)."""
    meta = yaml.safe_load((folder / "Chart.yaml").read_text())
    present = [p.name for p in (folder / "charts").iterdir()] if (folder / "charts").is_dir() else []
    return [
        d
        for d in meta.get("dependencies") or []
        if not any(p == d["name"] or p.startswith(f"{d['name']}-") for p in present)
    ]


def _switched_off(conditions: list[str]) -> dict[str, Any]:
    """Values that turn each `a.b.enabled` condition off."""
    values: dict[str, Any] = {}
    for condition in conditions:
        *parents, last = condition.split(",")[0].strip().split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = False
    return values


@contextmanager
def renderable(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(chart folder, values to merge). Where subcharts are missing (helm refuses a chart with one, even
    with its condition off): a copy declaring only the subcharts it carries, and values switching the
    missing ones off, since the parent's own templates read their values. The rest of the chart still
    renders and is checked; what belongs to the missing subcharts is not (chart_coverage() names them)."""
    missing = missing_subcharts(folder)
    if not missing:
        yield folder, {}
        return
    with tempfile.TemporaryDirectory(prefix="cnai-chart-") as tmp:
        copy = Path(tmp) / folder.name
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("unittests", "ci", "hack"))
        yield copy, _without_subcharts(copy, missing)


def _without_subcharts(copy: Path, missing: list[dict[str, Any]]) -> dict[str, Any]:
    """A chart copy made to declare none of the `missing` subcharts; returns the values that switch them off."""
    names = {d["name"] for d in missing}
    meta = yaml.safe_load((copy / "Chart.yaml").read_text())
    meta["dependencies"] = [d for d in meta["dependencies"] if d["name"] not in names]
    (copy / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    (copy / "Chart.lock").unlink(missing_ok=True)
    return _switched_off([d["condition"] for d in missing if d.get("condition")])


def chart_coverage(name: str) -> list[str]:
    """The subcharts of BOM chart `name` that the chart folder lacks, so no check sees their objects."""
    return [d["name"] for d in missing_subcharts(chart_dir(name))]


def merged(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key, value in overrides.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def render(
    helm: str, name: str, release: str, namespace: str, values: dict[str, Any], folder: str = ""
) -> list[dict[str, Any]]:
    """`helm template --include-crds` of a pinned chart (or a folder inside it, e.g. a CRD subchart)
    with the given values: every document, as dicts."""
    with renderable(chart_dir(name) / folder) as (source, overrides):
        done = subprocess.run(
            [helm, "template", release, str(source), "--namespace", namespace, "--include-crds", "--values", "-"],
            input=yaml.safe_dump(merged(values, overrides)),
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise ChartError(f"chart {name}: helm template failed: {done.stderr.strip()[-2000:]}")
    return [d for d in yaml.load_all(done.stdout, Loader=_ChartLoader) if d]


def render_cached(
    helm: str, cache: Path, name: str, release: str, namespace: str, values: dict[str, Any], folder: str = ""
) -> list[dict[str, Any]]:
    """render(), kept in `cache` keyed by chart version, folder, values and helm: `helm template` of a
    large chart takes seconds, and a warm `cnai up sim` should not pay it again."""
    key = json.dumps([chart(name)["version"], folder, release, namespace, values, Path(helm).name], sort_keys=True)
    path = cache / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    docs = render(helm, name, release, namespace, values, folder)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(docs))
    tmp.replace(path)
    return docs


def platform_crds(helm: str, cache: Path) -> list[dict[str, Any]]:
    """The CRDs of the platform's charts (CRD_CHARTS), as the releases would install them."""
    return [
        doc
        for name, (folder, values) in CRD_CHARTS.items()
        for doc in crds(render_cached(helm, cache, name, name, "default", values, folder))
    ]


# --- values against the chart ------------------------------------------------------------------
# Keys under which a chart takes any map (user data, not settings of its own), whatever its default.
FREE_FORM = frozenset(
    {
        "annotations",
        "labels",
        "podAnnotations",
        "podLabels",
        "nodeSelector",
        "resources",
        "securityContext",
        "podSecurityContext",
        "containerSecurityContext",
        "affinity",
        "extraEnv",
        "env",
        "config",
        "extraArgs",
        "serviceMonitor",
    }
)


def chart_defaults(name: str) -> dict[str, Any]:
    """The chart's values.yaml (its documented settings and their defaults)."""
    return yaml.safe_load((chart_dir(name) / "values.yaml").read_text()) or {}


def template_references(name: str) -> set[str]:
    """Dotted value paths the chart's templates read (`.Values.a.b`): settings a chart may use without
    listing them in values.yaml (SeaweedFS's `filer.s3.createBuckets`)."""
    refs: set[str] = set()
    for template in (chart_dir(name) / "templates").rglob("*"):
        if template.is_file() and template.suffix in (".yaml", ".tpl", ".yml", ".txt"):
            refs |= set(
                re.findall(r"\.Values\.([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)", template.read_text(errors="replace"))
            )
    return refs


def unknown_values(values: dict[str, Any], defaults: Any, read: set[str] = frozenset(), path: str = "") -> list[str]:
    """Dotted paths of values the chart does not define: a key absent from a non-empty map of its
    defaults that no template reads either. Below an empty default map, a list, or a FREE_FORM key,
    anything goes (free-form)."""
    unknown = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if not isinstance(defaults, dict) or not defaults or key in FREE_FORM:
            continue
        if key not in defaults:
            if not any(ref == where or ref.startswith(f"{where}.") for ref in read):
                unknown.append(where)
        elif isinstance(value, dict):
            unknown += unknown_values(value, defaults[key], read, where)
    return unknown


def loopback_client_config(client_config: dict[str, Any], port: int, ca_pem: bytes) -> dict[str, Any]:
    """A webhook clientConfig that names a Service, pointed at 127.0.0.1:port with the same path."""
    path = client_config.get("service", {}).get("path", "/")
    return {"url": f"https://127.0.0.1:{port}{path}", "caBundle": base64.b64encode(ca_pem).decode()}


def installable(docs: list[dict[str, Any]], webhook_port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """The chart documents the sim installs, webhooks and conversion rewired to loopback."""
    out = []
    for doc in docs:
        if doc.get("kind") not in INSTALLED_KINDS:
            continue
        doc = yaml.safe_load(yaml.safe_dump(doc))  # a copy
        doc["metadata"].get("annotations", {}).pop("cert-manager.io/inject-ca-from", None)
        if doc["kind"] in WEBHOOK_KINDS:
            doc["metadata"].pop("namespace", None)  # cluster-scoped
            for hook in doc.get("webhooks", []):
                hook["clientConfig"] = loopback_client_config(hook["clientConfig"], webhook_port, ca_pem)
        conversion = doc.get("spec", {}).get("conversion", {}) if doc["kind"] == "CustomResourceDefinition" else {}
        if conversion.get("strategy") == "Webhook":
            webhook = conversion["webhook"]
            webhook["clientConfig"] = loopback_client_config(webhook["clientConfig"], webhook_port, ca_pem)
        out.append(doc)
    return out


def crds(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "CustomResourceDefinition"]


def installable_charts(base: Path) -> Path:
    """A folder of the pinned charts that Helm installs as they are (the platform program's `cnai:charts`
    on the sim). A chart whose subcharts the folder lacks is copied without them and with their
    conditions off in its own defaults, so `helm install` neither refuses it nor renders the parent's
    templates for them; chart_coverage() names what is left out. Made once per set of chart pins (the
    folder is named by them: a BOM change makes a new copy, never installs a stale one)."""
    pins = json.dumps(bom()["helm_charts"], sort_keys=True).encode()
    dest = base.with_name(f"{base.name}-{hashlib.sha256(pins).hexdigest()[:12]}")
    if dest.is_dir():
        return dest
    source = charts_dir()
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("unittests", "ci", "hack"))
    for folder in (f for f in tmp.iterdir() if (f / "Chart.yaml").is_file()):
        if missing := missing_subcharts(folder):
            defaults = yaml.safe_load((folder / "values.yaml").read_text()) or {}
            switched_off = merged(defaults, _without_subcharts(folder, missing))
            (folder / "values.yaml").write_text(yaml.safe_dump(switched_off, sort_keys=False))
    tmp.replace(dest)
    return dest
