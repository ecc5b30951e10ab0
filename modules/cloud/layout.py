"""Where the cloud app keeps its files: the one place the synth, `cnai up` and the platform agree on.

Light on purpose (no cdktn import): the platform program and `cnai doctor` read these paths too.
"""

from __future__ import annotations

import os
from pathlib import Path

from modules.spec.loader import REPO_ROOT

CLOUD_APP = REPO_ROOT / "stacks" / "cloud"
STACK_FILE = "cdk.tf.json"


def cloud_dir() -> Path:
    """stacks/cloud, or CNAI_CLOUD_DIR (tests, or a checkout that keeps outputs elsewhere)."""
    return Path(os.environ.get("CNAI_CLOUD_DIR", CLOUD_APP))


def stack_dir(outdir: Path, env: str) -> Path:
    """Where an environment's cdk.tf.json lands, and where `tofu` runs."""
    return outdir / "stacks" / env
