"""One caller at a time on a piece of local state (an environment's up/down, a machine's Go builds)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def private_dir(path: Path) -> None:
    """A folder only its owner can enter, from its first byte (and tightened if an older cnai made it 0755)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """One `up`/`down` at a time per environment: a second caller waits, then sees the result.
    Whatever is written meanwhile (endpoints, credentials, configs) is private to its owner."""
    previous_umask = os.umask(0o077)
    try:
        private_dir(lock_path.parent)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.umask(previous_umask)
