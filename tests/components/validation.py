"""Validate rendered objects as the API server would: built-in kinds against the Kubernetes OpenAPI
schema (kubernetes-validate --strict), custom resources against the real upstream CRD schemas the
project carries in schemas/crds (schemas/crds/README.md: sources, refresh with scripts/refresh-crds),
or those the pinned chart installs (Karpenter's), with unknown fields rejected."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
from jsonschema import Draft7Validator

from modules.spec.loader import REPO_ROOT
from modules.versions import bom

# Carried in the project (a fork needs nothing beside its checkout); CNAI_CRDS points at another copy.
CRDS = Path(os.environ.get("CNAI_CRDS", REPO_ROOT / "schemas" / "crds"))
BUILTIN_GROUPS = ("v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "policy/v1")


def kubernetes_version() -> str:
    return f"{bom()['binaries']['kubernetes']['version']}.0"


def _close(schema: Any) -> Any:
    """Reject unknown fields: close every object schema that lists properties and does not opt out."""
    if isinstance(schema, dict):
        schema = {k: _close(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_close(item) for item in schema]
    return schema


# Charts whose CRDs schemas/crds does not hold: their schemas come from the pinned chart itself.
CHART_CRDS = ("karpenter-crd",)


@cache
def chart_crd_schemas() -> dict[str, dict[str, Any]]:
    """apiVersion/kind -> openAPIV3Schema of each served version of the CRDs the CHART_CRDS install."""
    from modules.sim.charts import render
    from tests.k8s.declared import built_helm

    helm, schemas = built_helm(), {}
    for name in CHART_CRDS:
        for crd in render(helm, name, name, "default", {}):
            if crd.get("kind") == "CustomResourceDefinition":
                for version in (v for v in crd["spec"]["versions"] if v.get("served")):
                    key = f"{crd['spec']['group']}/{version['name']}/{crd['spec']['names']['kind']}"
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


@cache
def crd_validator(api_version: str, kind: str) -> Draft7Validator:
    assert (CRDS / "index.json").is_file(), f"CRD schemas not found at {CRDS} (schemas/crds, or CNAI_CRDS)"
    index = json.loads((CRDS / "index.json").read_text())
    key = f"{api_version}/{kind}"
    if key in index:
        schema = json.loads((CRDS / index[key]).read_text())
    else:
        assert key in chart_crd_schemas(), f"no CRD schema for {key} in {CRDS} or {CHART_CRDS}: cnai cannot validate it"
        schema = chart_crd_schemas()[key]
    schema = _close(schema)
    schema["properties"]["metadata"] = {"type": "object"}  # names/labels are not part of the CRD schema
    return Draft7Validator(schema)


def validation_errors(obj: dict[str, Any]) -> list[str]:
    where = f"{obj['kind']}/{obj['metadata'].get('namespace', '-')}/{obj['metadata']['name']}"
    if obj["apiVersion"] in BUILTIN_GROUPS:
        try:
            kubernetes_validate.validate(copy.deepcopy(obj), kubernetes_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [f"{where}: {exc.message}"]
        return []
    validator = crd_validator(obj["apiVersion"], obj["kind"])
    return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
