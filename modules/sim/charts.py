"""The pinned upstream charts, rendered offline with cnai's own values, and what the sim installs of them.

The sim runs controllers as local processes, so of a chart it installs the cluster-scoped contract:
CRDs, RBAC, service accounts and webhook configurations. Webhooks (and CRD conversion) that the chart
points at an in-cluster Service are pointed at the controller's loopback listener instead, with the
CA that signed its serving certificate (the API server cannot reach Service IPs here: no kube-proxy).
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from modules.spec.loader import REPO_ROOT
from modules.versions import chart

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
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


class ChartError(Exception):
    """The chart folder is missing or helm could not render it."""


def charts_dir() -> Path:
    """The unpacked upstream charts (../shared/charts beside the checkout, or CNAI_CHARTS)."""
    return Path(os.environ.get("CNAI_CHARTS", REPO_ROOT.parent / "shared" / "charts"))


def chart_dir(name: str) -> Path:
    folder = charts_dir() / name
    meta = folder / "Chart.yaml"
    if not meta.is_file():
        raise ChartError(f"chart {name}: {meta} not found. Set CNAI_CHARTS to the folder of unpacked charts.")
    found = str(yaml.safe_load(meta.read_text())["version"])
    if found.lstrip("v") != str(chart(name)["version"]).lstrip("v"):
        raise ChartError(f"chart {name}: {folder} is version {found}, the BOM pins {chart(name)['version']}")
    return folder


def render(helm: str, name: str, release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """`helm template` of a pinned chart with the given values: every document, as dicts."""
    done = subprocess.run(
        [helm, "template", release, str(chart_dir(name)), "--namespace", namespace, "--values", "-"],
        input=yaml.safe_dump(values),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ChartError(f"chart {name}: helm template failed: {done.stderr.strip()[-2000:]}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


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
