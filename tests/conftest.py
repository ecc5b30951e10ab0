"""Shared helpers for the repo's tests."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from modules.spec import Spec, merged_document
from modules.spec.loader import REPO_ROOT, read_environment
from tests import specs


def env_document(env: str) -> dict[str, Any]:
    """A shipped environment's merged document, for tests to mutate. Only for tests whose subject is a
    shipped environment (and those tests/test_specs.py lists as still to convert): the others build
    theirs with tests/specs.py, so that a fork's edits to stacks/platform break none of them."""
    return copy.deepcopy(merged_document(env, read_environment(env)))


@pytest.fixture
def prod_doc() -> dict[str, Any]:
    """An environment with the shapes of prod (GKE, an H100 pool and a MIG pool, two teams), built."""
    return specs.prod_like()


@pytest.fixture
def local_spec() -> Spec:
    """A local environment, built."""
    return specs.spec(specs.local_document())


GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("CNAI_UPDATE_GOLDEN") == "1"


def assert_golden(relative: str, text: str) -> None:
    """Compare rendered output with tests/golden/<relative>; `task golden` rewrites them on purpose."""
    path = GOLDEN_DIR / relative
    text = text.replace(str(REPO_ROOT), "<repo>")  # goldens must not depend on where the clone lives
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.is_file(), f"no golden file {path}: run `task golden` and review the diff"
    assert text == path.read_text(), f"{relative} changed: review, then `task golden` to accept"
