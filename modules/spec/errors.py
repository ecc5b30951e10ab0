"""Spec errors: every problem names its field path, the bad value and what is allowed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class SpecError:
    """One problem in an environment spec."""

    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message} (got {_short(self.value)})"


class SpecInvalid(Exception):
    """An environment spec with one or more problems; carries all of them."""

    def __init__(self, source: str, errors: Sequence[SpecError]) -> None:
        self.source = source
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{source}: {len(self.errors)} problem(s)\n{lines}")


def format_path(loc: Sequence[str | int]) -> str:
    """('gpu_pools', 1, 'sharing', 'mig_profile') -> 'gpu_pools[1].sharing.mig_profile'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def from_validation_error(exc: ValidationError) -> list[SpecError]:
    """Pydantic's errors as SpecErrors, with function-validator tags dropped from the path."""
    errors = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key (typo?); remove it or check docs/spec.md for the allowed keys"
        elif err["type"] == "missing":
            message = "required field is missing"
        errors.append(SpecError(format_path(loc), err.get("input"), message))
    return errors


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
