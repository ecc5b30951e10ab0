"""Validate rendered objects as the API server would: built-in kinds against the Kubernetes OpenAPI
schema (kubernetes-validate --strict), custom resources against the real CRD schemas in
../shared/crds with unknown fields rejected."""

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

# shared/ lies beside the checkout (developers and CI); CNAI_CRDS points elsewhere.
CRDS = Path(os.environ.get("CNAI_CRDS", REPO_ROOT.parent / "shared" / "crds"))
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


@cache
def crd_validator(api_version: str, kind: str) -> Draft7Validator:
    assert (CRDS / "index.json").is_file(), f"CRD schemas not found at {CRDS}: set CNAI_CRDS"
    index = json.loads((CRDS / "index.json").read_text())
    key = f"{api_version}/{kind}"
    assert key in index, f"no CRD schema for {key} in {CRDS}: a custom resource cnai cannot validate"
    schema = _close(json.loads((CRDS / index[key]).read_text()))
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
