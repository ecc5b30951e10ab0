"""Cloud clusters (cdktn -> OpenTofu/Terraform JSON) for the eks and gke targets."""

import os
from pathlib import Path

# Set before cdktn (jsii) is first imported: Node 20 warnings off, and the jsii package cache in a
# folder cnai owns (the default one under ~/.cache grows past 1 GB).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault(
    "JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(Path(os.environ.get("CNAI_CACHE", Path.home() / ".cache" / "cnai")) / "jsii")
)
