"""The Pulumi adapter of modules/components/observability.py: deploys what its builders return."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from modules.components.mlflow import collector_user
from modules.components.objects import k8s_object
from modules.components.observability import (
    COMPONENT,
    NAMESPACE,
    TRACES_SECRET,
    grafana_admin_secret,
    observability_objects,
)
from modules.k8s.generated import generated
from modules.k8s.pulumi_resources import child_of, helm_release, object_group, secret_value
from modules.spec import Spec


@dataclass(frozen=True)
class ObservabilityArgs:
    spec: Spec  # the environment; retention, Grafana and what to watch come from it


class Observability(pulumi.ComponentResource):
    """kube-prometheus-stack, the OpenTelemetry Collector, cnai's dashboards and alert rules."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cnai:k8s:Observability", name, None, opts)
        child = child_of(self, opts)
        ref = args.spec.components.observability.grafana_admin_password
        password = (
            secret_value(ref, "components.observability.grafana_admin_password", f"{name}-grafana-password", child)
            if ref
            else pulumi.Output.secret("")
        )
        secrets = [grafana_admin_secret(password)]
        self.traces_password: pulumi.Output[str] | None = None
        if collector_user(args.spec):
            self.traces_password = generated(f"{name}-mlflow-traces-password", 32, child)
            secrets.append(
                k8s_object(
                    "v1",
                    "Secret",
                    TRACES_SECRET,
                    NAMESPACE,
                    type="Opaque",
                    stringData={"password": self.traces_password},
                )
            )
        admin = object_group(f"{name}-grafana-admin", secrets, child)
        stack = helm_release(
            name, COMPONENT, COMPONENT.release("kube-prometheus-stack"), args.spec, child_of(self, opts, admin)
        )
        after_stack = child_of(self, opts, stack)
        collector = helm_release(name, COMPONENT, COMPONENT.release("opentelemetry-collector"), args.spec, after_stack)
        object_group(f"{name}-dashboards-and-rules", observability_objects(args.spec), after_stack)
        self.register_outputs({"collector": collector.status})
