"""What a bucket is on either cloud: its global name, and how long superseded data stays recoverable.

The EKS and GKE buckets (modules/cloud/eks/buckets.py, modules/cloud/gke/buckets.py) and the check of the
applied stack's outputs (modules/cloud/outputs.py) read these, so both clouds name and expire alike.
"""

from __future__ import annotations

from modules.spec import Spec

# How long an overwritten or deleted object stays recoverable (the buckets are versioned).
NONCURRENT_VERSION_DAYS = 30
# A multipart upload never completed is billed storage nobody can read.
INCOMPLETE_UPLOAD_DAYS = 7


def bucket_names(spec: Spec) -> dict[str, str]:
    """Logical bucket (the spec's, and the resources' construct ids) -> its globally unique name."""
    return {logical: spec.bucket(logical) for logical in spec.components.object_storage.buckets}
