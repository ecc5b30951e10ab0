"""The Pulumi adapter of modules/components/security.py: deploys what its builders return."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from modules.components.security import security_objects
from modules.k8s.pulumi_resources import child_of, object_group
from modules.spec import Spec


@dataclass(frozen=True)
class SecurityBaselineArgs:
    spec: Spec  # the environment; namespaces follow its enabled components and teams


class SecurityBaseline(pulumi.ComponentResource):
    """Namespaces, NetworkPolicies, team quotas and RBAC: created before any component."""

    def __init__(self, name: str, args: SecurityBaselineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:SecurityBaseline", name, None, opts)
        self.objects = object_group(f"{name}-objects", security_objects(args.spec), child_of(self, opts))
        self.register_outputs({"objects": self.objects})
