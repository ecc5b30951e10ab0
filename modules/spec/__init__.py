"""The environment spec: models, accelerator registry, blueprint merging and validation."""

from modules.spec.accelerators import ACCELERATORS, Accelerator
from modules.spec.errors import SpecError, SpecInvalid
from modules.spec.loader import list_blueprints, list_envs, load_spec, merged_document, validate
from modules.spec.models import GpuPool, Spec, Team

__all__ = [
    "ACCELERATORS",
    "Accelerator",
    "GpuPool",
    "Spec",
    "SpecError",
    "SpecInvalid",
    "Team",
    "list_blueprints",
    "list_envs",
    "load_spec",
    "merged_document",
    "validate",
]
