"""JobSet, the workload API Kueue's jobset integration admits (gangs of Jobs, multi-node training);
installed with Kueue, in its own namespace."""

from __future__ import annotations

from typing import Any

from modules.components.registry import Component, Release
from modules.spec import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES
from modules.versions import chart

NAMESPACE = PLATFORM_NAMESPACES["jobset"]


def jobset_values(spec: Spec) -> dict[str, Any]:
    """Its chart defaults to the floating image tag `main`: the pinned release's own tag instead."""
    webhook_certs = {"certManager": {"enable": True}} if spec.components.cert_manager.enabled else {}
    return {"image": {"tag": f"v{chart('jobset')['version']}"}} | webhook_certs


COMPONENT = Component(
    key="jobset",
    name="jobset",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.kueue.enabled,
    releases=(Release("jobset", "chart", jobset_values),),
    after=("cert_manager",),  # with cert-manager, its chart renders a Certificate for its webhooks
    api_client="JobSet's controller",
    api_callbacks=(9443,),  # its webhooks
    pulumi_type="JobSet",
)
