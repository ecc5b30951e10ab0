"""Helpers for reading what the platform program declares (modules/k8s/declared.py records it under
mocks): its Helm releases rendered by the helm binary `cnai setup sim` builds."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

# What a chart needs set before it renders at all: its "defaults" for comparisons.
REQUIRED_TO_RENDER: dict[str, dict[str, Any]] = {
    "opentelemetry-collector": {"mode": "deployment", "image": {"repository": "otel/opentelemetry-collector-contrib"}},
    "karpenter": {"settings": {"clusterName": "any-cluster"}},
}


_RENDERED: dict[str, list[dict[str, Any]]] = {}  # one `helm template` per chart and values, per session


def rendered_releases(helm: str, releases: list[dict[str, Any]], defaults: bool = False) -> dict[str, list[dict]]:
    """Release name -> its chart's documents (release namespace set), rendered with the values the
    program passes, or with the chart's defaults (to tell what cnai's values change). Read-only: the
    documents are shared by every test that renders the same release with the same values."""
    from modules.components.references import placed
    from modules.sim.charts import render

    out = {}
    for r in releases:
        values = REQUIRED_TO_RENDER.get(r["name"], {}) if defaults else r["values"] or {}
        key = json.dumps([r["name"], r["namespace"], values], sort_keys=True)
        if key not in _RENDERED:
            _RENDERED[key] = placed(render(helm, r["name"], r["name"], r["namespace"], values), r["namespace"])
        out[r["name"]] = _RENDERED[key]
    return out


def built_helm() -> str:
    """The helm binary `cnai setup sim` builds; a skip without it (a failure where CI requires it)."""
    from modules import gobuild as build

    helm = build.path_of("helm")
    if not helm.is_file():
        message = f"helm not built ({helm}): run `cnai setup sim`"
        if os.environ.get("CNAI_REQUIRE_SIM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return str(helm)
