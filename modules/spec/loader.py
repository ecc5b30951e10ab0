"""Load an environment: its Pulumi stack file, merged over its blueprint, validated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from modules.spec.checks import semantic_errors
from modules.spec.errors import SpecError, SpecInvalid, from_validation_error
from modules.spec.models import Spec

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_KEY = "cnai:spec"


def blueprints_dir() -> Path:
    return Path(os.environ.get("CNAI_BLUEPRINTS", REPO_ROOT / "blueprints"))


def stacks_dir() -> Path:
    return Path(os.environ.get("CNAI_STACKS", REPO_ROOT / "stacks" / "platform"))


def stack_file(env: str) -> Path:
    return stacks_dir() / f"Pulumi.{env}.yaml"


def list_envs() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir().glob("Pulumi.*.yaml"))


def list_blueprints() -> list[str]:
    return sorted(p.stem for p in blueprints_dir().glob("*.yaml"))


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; everything else (lists included) is replaced by the override."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpecInvalid(str(path), [SpecError("", None, f"not valid YAML: {exc}")]) from None


def read_blueprint(name: str) -> dict[str, Any]:
    path = blueprints_dir() / f"{name}.yaml"
    if not path.is_file():
        allowed = ", ".join(list_blueprints())
        raise SpecInvalid(name, [SpecError("blueprint", name, f"unknown blueprint; available: {allowed}")])
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise SpecInvalid(str(path), [SpecError("", data, "a blueprint must be a mapping")])
    return data


def read_environment(env: str) -> dict[str, Any]:
    """The raw `cnai:spec` document of an environment's stack file."""
    path = stack_file(env)
    if not path.is_file():
        allowed = ", ".join(list_envs()) or "(none)"
        raise SpecInvalid(env, [SpecError("", env, f"no stack file {path}; environments: {allowed}")])
    config = _read_yaml(path).get("config") or {}
    unknown = [k for k in config if k.startswith("cnai:") and k != CONFIG_KEY]
    if unknown:
        raise SpecInvalid(
            str(path),
            [SpecError(f"config.{k}", config[k], f"unknown key; cnai reads only {CONFIG_KEY}") for k in unknown],
        )
    document = config.get(CONFIG_KEY)
    if not isinstance(document, dict):
        raise SpecInvalid(str(path), [SpecError(f"config.{CONFIG_KEY}", document, "required mapping is missing")])
    return document


def merged_document(name: str, document: dict[str, Any]) -> dict[str, Any]:
    """The environment's overrides merged over its blueprint, with the environment's name set."""
    blueprint = document.get("blueprint")
    if not isinstance(blueprint, str):
        raise SpecInvalid(name, [SpecError("blueprint", blueprint, "required: the name of a file in blueprints/")])
    merged = deep_merge(read_blueprint(blueprint), document)
    return {**merged, "name": name}


def validate(name: str, document: dict[str, Any]) -> Spec:
    """Validate a merged document; raise SpecInvalid listing every problem."""
    try:
        spec = Spec.model_validate(document)
    except ValidationError as exc:
        raise SpecInvalid(name, from_validation_error(exc)) from None
    errors = semantic_errors(spec)
    if errors:
        raise SpecInvalid(name, errors)
    return spec


def load_spec(env: str) -> Spec:
    return validate(env, merged_document(env, read_environment(env)))
