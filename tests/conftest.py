"""Shared helpers for the repo's tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modules.spec import Spec, merged_document, validate
from modules.spec.loader import read_environment


def env_document(env: str) -> dict[str, Any]:
    """A shipped environment's merged document, for tests to mutate."""
    return copy.deepcopy(merged_document(env, read_environment(env)))


@pytest.fixture
def prod_doc() -> dict[str, Any]:
    return env_document("prod")


@pytest.fixture
def local_spec() -> Spec:
    return validate("local", env_document("local"))
