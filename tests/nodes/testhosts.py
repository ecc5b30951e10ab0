"""Real Debian test hosts for the node roles: podman containers from a debootstrapped image.

No registry is reachable, so the image is built here: `debootstrap --variant=minbase` of Debian 12 with
python3, imported into podman (cached as a tarball under ~/.cache/cnai). podman needs runc and
lowered ulimits on these machines (../shared/MACHINE-NOTES.md). The hosts are containers, so they
share the CI machine's kernel: the roles detect that and leave the running kernel alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

IMAGE = "localhost/cnai-testhost:bookworm"
CACHE = Path(os.environ.get("CNAI_TESTHOST_CACHE", Path.home() / ".cache" / "cnai" / "testhost"))
TARBALL = CACHE / "bookworm-minbase.tar"
MIRROR = "http://deb.debian.org/debian"
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def missing_tools() -> list[str]:
    return [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check)


def ensure_image() -> str:
    """The test host image, built once (debootstrap ~1 min) and imported from the cached tarball after."""
    if _podman("image", "exists", IMAGE, check=False).returncode == 0:
        return IMAGE
    if not TARBALL.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="cnai-rootfs-") as rootfs:
            debootstrap = ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", rootfs, MIRROR]
            subprocess.run(debootstrap, capture_output=True, text=True, check=True)
            partial = TARBALL.with_suffix(".partial")
            subprocess.run(["tar", "-C", rootfs, "-cf", str(partial), "."], check=True)
            partial.rename(TARBALL)
    _podman("import", "--quiet", str(TARBALL), IMAGE)
    return IMAGE


@dataclass(frozen=True)
class TestHost:
    name: str  # inventory hostname
    container: str

    @property
    def testinfra_url(self) -> str:
        return f"podman://{self.container}"


def start(name: str) -> TestHost:
    container = f"cnai-testhost-{name}"
    _podman("rm", "--force", container, check=False)
    _podman("run", "--detach", "--name", container, "--hostname", name, *LIMITS, IMAGE, "sleep", "infinity")
    return TestHost(name, container)


def stop(host: TestHost) -> None:
    _podman("rm", "--force", "--time", "0", host.container, check=False)


def connection_inventory(hosts: list[TestHost]) -> dict:
    """Reaches the hosts through podman instead of SSH; the container runs as root, so no sudo."""
    connection = {"ansible_connection": "containers.podman.podman", "ansible_user": "root", "ansible_become": False}
    return {"all": {"hosts": {h.name: connection | {"ansible_host": h.container} for h in hosts}}}
