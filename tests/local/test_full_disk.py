"""A full data disk: writes fail while it is full (and `up`/`status` say so plainly), nothing
acknowledged before is lost, and writes work again once space returns. The state directory lives on
a small tmpfs of its own (mounting needs root)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules.local.paths import LocalPaths
from modules.local.runtime import LocalError, LocalRuntime, disk_megabytes
from modules.spec import validate
from tests import specs
from tests.local.stacks import NO_RETRIES, ports_from, running_stack, s3_client

pytestmark = [pytest.mark.local, pytest.mark.slow]

DISK_MB = 768
PORTS_BASE = 12100  # apart from the other test stacks' (12000) and a developer's own stack
STORE_ONLY_PORTS_BASE = 12200


@contextlib.contextmanager
def tmpfs(mount: Path, size_mb: int) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    with tmpfs(tmp_path_factory.mktemp("small-disk"), DISK_MB) as mount:
        yield mount


@pytest.fixture(scope="module")
def runtime(small_disk):
    document = specs.local_document()
    document["local"] = {"ports": ports_from(PORTS_BASE)}
    yield from running_stack(validate("local", document), small_disk / "home")


def fill(folder) -> object:
    """Write until the disk says no space; returns the filler file."""
    filler = folder / "filler.bin"
    chunk = b"\0" * (1 << 20)
    for size in (len(chunk), 4096):  # then the last bytes that still fit
        with contextlib.suppress(OSError), open(filler, "ab", buffering=0) as handle:
            while True:
                handle.write(chunk[:size])
    return filler


def test_full_disk_refuses_writes_loses_nothing_and_recovers(runtime):
    s3 = s3_client(runtime, NO_RETRIES)
    before = {f"before/{i}": os.urandom(64 * 1024) for i in range(5)}
    for key, body in before.items():
        s3.put_object(Bucket="datasets", Key=key, Body=body)
    filler = fill(runtime.paths.home.parent)
    assert disk_megabytes(runtime.paths.home)[0] < 1
    with pytest.raises(Exception):  # noqa: B017 - the store reports it as it can (SeaweedFS: 500 or a reset)
        s3.put_object(Bucket="datasets", Key="while-full", Body=os.urandom(4 << 20))
    problem = runtime.disk_problem()
    assert problem is not None and str(runtime.paths.home) in problem
    filler.unlink()
    deadline, written = time.monotonic() + 60, False
    while not written and time.monotonic() < deadline:
        try:
            s3.put_object(Bucket="datasets", Key="after", Body=b"space is back")
            written = True
        except Exception:
            time.sleep(1)
    assert written, "writes did not resume within 60 s of space returning"
    for key, body in before.items():
        assert (
            hashlib.sha256(s3.get_object(Bucket="datasets", Key=key)["Body"].read()).digest()
            == hashlib.sha256(body).digest()
        ), key
    assert all(s.healthy for s in runtime.status())
    assert runtime.disk_problem() is None


# Below what the object store needs (1% of 200 MB + a 64 MB volume per bucket and a spare), above the
# floor every server needs: only SeaweedFS's own rule can refuse it.
TOO_SMALL_FOR_THE_STORE_MB = 200


def store_only() -> LocalRuntime:
    """The object store alone (the other servers are not what these tests are about)."""
    document = specs.local_document()
    document["local"] = {"ports": ports_from(STORE_ONLY_PORTS_BASE)}
    for component in ("mlflow", "kserve", "vector_db", "observability"):
        document["components"][component] = {"enabled": False}
    return validate("local", document)


def assert_nothing_running(runtime: LocalRuntime) -> None:
    assert not runtime.supervisor.is_running()
    assert runtime.orphans() == {}


def test_up_refuses_a_disk_too_small_for_the_object_store_naming_why(tmp_path):
    with tmpfs(tmp_path, TOO_SMALL_FOR_THE_STORE_MB) as mount:
        runtime = LocalRuntime(
            store_only(), LocalPaths(home=mount / "home", venvs_root=LocalPaths.from_env().venvs_root)
        )
        with pytest.raises(LocalError) as refused:
            runtime.up()
        message = str(refused.value)
        assert str(mount / "home") in message and "object_storage" in message and "read-only" in message
        assert "Nothing was started" in message
        assert_nothing_running(runtime)


def test_a_store_that_cannot_write_fails_up_and_leaves_nothing_running(tmp_path, monkeypatch):
    """Past the disk check (skipped here), SeaweedFS itself on that disk: healthy gateway, no volume to write
    to. `up` must see it through its write probe instead of reporting a ready store."""
    monkeypatch.setattr(LocalRuntime, "disk_problem", lambda self: None)
    with tmpfs(tmp_path, TOO_SMALL_FOR_THE_STORE_MB) as mount:
        runtime = LocalRuntime(
            store_only(), LocalPaths(home=mount / "home", venvs_root=LocalPaths.from_env().venvs_root)
        )
        with pytest.raises(LocalError, match=r"object_storage: bucket \S+ does not take writes"):
            runtime.up()
        assert_nothing_running(runtime)
