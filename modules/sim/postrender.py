"""Helm post-renderer of the platform program's releases on the sim (`cnai:helm_postrender`).

`python -m modules.sim.postrender INSTALLED_JSON` reads a release's manifests on stdin and writes them
back without what the sim serves itself:
- the objects `sim up` installed (Kueue's, KServe's and JobSet's CRDs, RBAC and webhooks, the platform
  charts' CRDs): the sim's controllers run as local processes and the API server calls them on
  127.0.0.1, which the charts' copies would point back at Services; Helm would also refuse to adopt them;
- every other admission webhook configuration and APIService: they name Services whose pods kwok only
  pretends to run, so the API server could never reach them and would refuse every object they cover.
Everything else (Deployments, StatefulSets, Services, Secrets, the charts' Jobs, their own CRDs)
installs as it would on a cluster, and kwok runs the pods.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

UNREACHABLE_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService")


def object_key(doc: dict[str, Any]) -> str:
    """group/kind/namespace/name of an object (namespace empty where the document names none)."""
    group = doc["apiVersion"].rsplit("/", 1)[0] if "/" in doc["apiVersion"] else ""
    return "/".join((group, doc["kind"], doc["metadata"].get("namespace") or "", doc["metadata"]["name"]))


def _unnamespaced(key: str) -> str:
    group, kind, _, name = key.split("/", 3)
    return f"{group}/{kind}//{name}"


def kept(docs: list[dict[str, Any]], installed: set[str]) -> list[dict[str, Any]]:
    """The documents the sim lets Helm install. A namespaced document that names no namespace (Helm puts
    it in the release's, which a post-renderer is not told) matches an installed object in any."""
    anywhere = {_unnamespaced(k) for k in installed}

    def served(doc: dict[str, Any]) -> bool:
        key = object_key(doc)
        return key in installed or (not doc["metadata"].get("namespace") and key in anywhere)

    return [d for d in docs if d["kind"] not in UNREACHABLE_KINDS and not served(d)]


def main(argv: list[str]) -> int:
    installed = set(json.loads(Path(argv[0]).read_text()))
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    yaml.safe_dump_all(kept(docs, installed), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
