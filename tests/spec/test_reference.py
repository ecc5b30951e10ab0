"""docs/spec.md is generated from the models and must be current."""

from __future__ import annotations

from modules.spec.loader import REPO_ROOT
from modules.spec.reference import spec_reference


def test_spec_reference_is_current():
    assert (REPO_ROOT / "docs" / "spec.md").read_text() == spec_reference(), "run `task docs`"


def test_reference_documents_every_component_and_the_registry():
    text = spec_reference()
    for section in ("## GpuPool", "## Sharing", "## Kueue", "## KServe", "## Secret", "## Accelerator registry"):
        assert section in text
