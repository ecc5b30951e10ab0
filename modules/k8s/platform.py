"""The platform program: the components of one environment, in dependency order."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from modules.k8s.gpu_operator import GpuOperator, GpuOperatorArgs
from modules.k8s.kueue import Kueue, KueueArgs
from modules.k8s.security import COMPONENT_NAMESPACES, SecurityBaseline, SecurityBaselineArgs
from modules.spec import Spec


def deploy_platform(spec: Spec, provider: k8s.Provider) -> dict[str, object]:
    """Declare every enabled component; returns the outputs the stack exports."""
    security = SecurityBaseline("security", SecurityBaselineArgs(spec), pulumi.ResourceOptions(provider=provider))
    after_security = pulumi.ResourceOptions(provider=provider, depends_on=[security])
    outputs: dict[str, object] = {"environment": spec.name}
    if spec.components.gpu_operator.enabled and spec.gpu_pools:
        GpuOperator("gpu-operator", GpuOperatorArgs(spec), after_security)
    if spec.components.kueue.enabled:
        kueue = Kueue("kueue", KueueArgs(spec, COMPONENT_NAMESPACES["kueue"][0]), after_security)
        outputs["local_queues"] = kueue.local_queues
    return outputs
