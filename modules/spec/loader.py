"""Load an environment: its Pulumi stack file, merged over its blueprint, validated."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from modules.project import project_root
from modules.spec.checks import semantic_errors
from modules.spec.errors import NO_VALUE, SpecError, SpecInvalid, clip, from_validation_error, short
from modules.spec.models import NAME_PATTERN, Spec
from modules.spec.yaml_bounded import YamlTooComplex, load_bounded

REPO_ROOT = project_root()
CONFIG_KEY = "cnai:spec"


def blueprints_dir() -> Path:
    return Path(os.environ.get("CNAI_BLUEPRINTS", REPO_ROOT / "blueprints"))


def stacks_dir() -> Path:
    return Path(os.environ.get("CNAI_STACKS", REPO_ROOT / "stacks" / "platform"))


NAME_RULE = "lowercase letters, digits and '-', starting with a letter, at most 32 characters"
MAX_FILE_BYTES = 1 << 20  # a stack file or blueprint is a few KiB; 1 MiB is far beyond any real one


def check_name(kind: str, name: Any, source: str | None = None) -> str:
    """An environment or blueprint name, checked before it becomes part of a path (no '..', '/', markup).

    `source` is what the problem is reported against (default: the name itself, shortened)."""
    if isinstance(name, str) and re.fullmatch(NAME_PATTERN, name):
        return name
    raise SpecInvalid(source or short(name), [SpecError(kind, name, f"not a valid {kind} name: {NAME_RULE}")])


def stack_file(env: str) -> Path:
    return stacks_dir() / f"Pulumi.{check_name('environment', env)}.yaml"


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
    """A YAML file read with bounds: size, UTF-8, nesting depth, aliases; every failure is a SpecInvalid."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecInvalid(source, [SpecError("", NO_VALUE, f"cannot read the file: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecInvalid(source, [SpecError("", NO_VALUE, f"file is larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} ({exc.reason})"
        raise SpecInvalid(source, [SpecError("", NO_VALUE, message)]) from None
    try:
        data = load_bounded(text)
    except YamlTooComplex as exc:
        raise SpecInvalid(source, [SpecError("", NO_VALUE, f"refused: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise SpecInvalid(source, [SpecError("", NO_VALUE, f"not valid YAML: {_yaml_problem(exc)}")]) from None
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML cannot build: 2001-13-45, a 5000-digit int
        message = f"not valid YAML: a value cannot be read: {clip(str(exc))}"
        raise SpecInvalid(source, [SpecError("", NO_VALUE, message)]) from None
    return {} if data is None else data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message, bounded (it quotes the offending text whole), with its line and column."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return clip(str(exc))
    parts = [clip(text) for text in (exc.context, exc.problem) if text]
    mark = exc.problem_mark or exc.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return ": ".join(parts) + where


def read_blueprint(name: str, source: str | None = None) -> dict[str, Any]:
    """A blueprint's document; a bad or unknown name is reported against `source` (the environment)."""
    path = blueprints_dir() / f"{check_name('blueprint', name, source)}.yaml"
    if not path.is_file():
        allowed = ", ".join(list_blueprints())
        raise SpecInvalid(source or name, [SpecError("blueprint", name, f"unknown blueprint; available: {allowed}")])
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
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise SpecInvalid(str(path), [SpecError("", data, "a Pulumi stack file is a mapping with a config: key")])
    config = data.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise SpecInvalid(str(path), [SpecError("config", config, "must be a mapping of Pulumi config keys")])
    unknown = [k for k in config if isinstance(k, str) and k.startswith("cnai:") and k != CONFIG_KEY]
    if unknown:
        raise SpecInvalid(
            str(path),
            [SpecError(f"config.{k}", config[k], f"unknown key; cnai reads only {CONFIG_KEY}") for k in unknown],
        )
    document = config.get(CONFIG_KEY)
    if document is None:
        raise SpecInvalid(str(path), [SpecError(f"config.{CONFIG_KEY}", None, "required mapping is missing")])
    if not isinstance(document, dict):
        raise SpecInvalid(str(path), [SpecError(f"config.{CONFIG_KEY}", document, "must be a mapping (the spec)")])
    return document


def merged_document(name: str, document: dict[str, Any]) -> dict[str, Any]:
    """The environment's overrides merged over its blueprint, with the environment's name set."""
    blueprint = document.get("blueprint")
    if not isinstance(blueprint, str):
        raise SpecInvalid(name, [SpecError("blueprint", blueprint, "required: the name of a file in blueprints/")])
    merged = deep_merge(read_blueprint(blueprint, source=name), document)
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
