"""Spec errors: every problem names its field path, the bad value and what is allowed."""

from __future__ import annotations

import itertools
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


class _NoValue:
    """The value of a problem that is about a whole file (unreadable, not YAML), not one value in it."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()


@dataclass(frozen=True)
class SpecError:
    """One problem in an environment spec."""

    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        got = "" if self.value is NO_VALUE else f" (got {short(self.value)})"
        # Checks word their messages with spec values (a region, a pool name): bounded here, once.
        return f"{clip(self.path, 200) or '<root>'}: {clip(self.message, 600)}{got}"


MAX_LISTED = 100  # problems spelled out in a message; the rest are counted


class SpecInvalid(Exception):
    """An environment spec with one or more problems; carries all of them."""

    def __init__(self, source: str, errors: Sequence[SpecError]) -> None:
        self.source = source
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors[:MAX_LISTED])
        if len(self.errors) > MAX_LISTED:
            lines += f"\n  ... and {len(self.errors) - MAX_LISTED} more"
        super().__init__(f"{source}: {len(self.errors)} problem(s)\n{lines}")


def format_path(loc: Sequence[str | int]) -> str:
    """('gpu_pools', 1, 'sharing', 'mig_profile') -> 'gpu_pools[1].sharing.mig_profile'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = _key(part)
            out += f".{text}" if out else text
    return out


def _key(part: Any) -> str:
    """A mapping key as a path segment; odd keys (long, spaces, control characters) are quoted and cut."""
    text = str(part) if isinstance(part, str) else short(part)
    if len(text) <= 40 and text.isprintable() and " " not in text:
        return text
    return short(text)


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


class _BoundedRepr(reprlib.Repr):
    """reprlib cuts strings, lists and mappings before rendering them; bytes are cut the same way,
    and mappings and sets are not sorted first (sorting a huge one is the cost this avoids)."""

    def repr_dict(self, value: dict, level: int) -> str:
        if not value:
            return "{}"
        if level <= 0:
            return "{...}"
        items = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in itertools.islice(value.items(), self.maxdict)
        ]
        return "{" + ", ".join(items) + (", ...}" if len(value) > self.maxdict else "}")

    def repr_set(self, value: set, level: int) -> str:
        if not value:
            return "set()"
        items = [self.repr1(v, level - 1) for v in itertools.islice(value, self.maxset)] if level > 0 else ["..."]
        return "{" + ", ".join(items) + (", ...}" if len(value) > self.maxset else "}")

    def repr_bytes(self, value: bytes, level: int) -> str:
        text = repr(value[: self.maxstring])
        return text if len(value) <= self.maxstring else text + "..."

    def repr_int(self, value: int, level: int) -> str:
        if value.bit_length() > 256:  # a long int's repr costs time quadratic in its digits
            return f"<int of {value.bit_length()} bits>"
        return super().repr_int(value, level)


_REPR = _BoundedRepr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdict = 4
_REPR.maxlevel = 3


def clip(text: str, limit: int = 160) -> str:
    """A message cut in the middle to at most `limit` characters (both ends usually matter)."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return text[:half] + "..." + text[-half:]


def short(value: Any) -> str:
    """A bounded rendering of any value: never renders the whole of a huge one first."""
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
