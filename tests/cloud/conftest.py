"""Both cloud stacks, synthesized once per test session with the real cdktn (offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modules.spec import load_spec

CLOUD_ENVS = ("dev", "prod")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> dict[str, Path]:
    from modules.cloud.stack import synth

    root = tmp_path_factory.mktemp("cloud")
    return {env: synth(load_spec(env), root / "cdktn.out", local_state_dir=root / "state") for env in CLOUD_ENVS}


@pytest.fixture(scope="session")
def stacks(synthesized) -> dict[str, dict[str, Any]]:
    return {env: json.loads(path.read_text()) for env, path in synthesized.items()}


def resources(stack: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return stack["resource"].get(kind, {})
