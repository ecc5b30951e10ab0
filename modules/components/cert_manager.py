"""cert-manager: certificates for KServe's webhooks (and Kueue's and JobSet's when they use it)."""

from __future__ import annotations

import copy
from typing import Any

from modules.components.registry import Component, Release
from modules.spec import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES

NAMESPACE = PLATFORM_NAMESPACES["cert_manager"]


VALUES: dict[str, Any] = {"crds": {"enabled": True}}  # the chart installs its CRDs only when asked


def cert_manager_values(spec: Spec) -> dict[str, Any]:
    return copy.deepcopy(VALUES)  # the same for every environment


COMPONENT = Component(
    key="cert_manager",
    name="cert-manager",
    namespace=NAMESPACE,
    enabled=lambda spec: spec.components.cert_manager.enabled,
    releases=(Release("cert-manager", "chart", cert_manager_values),),
    wait_ready=True,
    api_client="cert-manager's controller, cainjector and webhook",
    api_callbacks=(10250,),  # webhook.securePort
    pulumi_type="CertManager",
)
