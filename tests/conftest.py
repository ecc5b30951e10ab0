"""Shared helpers for the repo's tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from modules.spec import Spec
from modules.spec.loader import REPO_ROOT
from tests import specs


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
