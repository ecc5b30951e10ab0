"""Both cloud stacks, synthesized once per test session with the real cdktn (offline), from the
stand-ins of tests/specs.py (an EKS dev, a GKE prod). The shipped environments' stacks: test_golden.py."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from modules.spec import Spec
from tests.specs import CLOUD_STAND_INS, stand_in_spec


def synthesize(specs: Iterable[Spec], root: Path) -> dict[str, Path]:
    """Each spec's cloud stack synthesized under `root`, by environment name."""
    from modules.cloud.stack import synth

    return {s.name: synth(s, root / "cdktn.out", local_state_dir=root / "state") for s in specs}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> dict[str, Path]:
    return synthesize([stand_in_spec(env) for env in CLOUD_STAND_INS], tmp_path_factory.mktemp("cloud"))


@pytest.fixture(scope="session")
def stacks(synthesized) -> dict[str, dict[str, Any]]:
    return {env: json.loads(path.read_text()) for env, path in synthesized.items()}


def resources(stack: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return stack["resource"].get(kind, {})
