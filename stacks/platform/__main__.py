"""Pulumi program of the cnai platform: `pulumi up -s <env>` in this folder.

The environment's spec is the `cnai:spec` config of its stack file, merged over its blueprint and
validated before anything is declared (see modules/k8s/platform.py for the components and order).
"""

import pulumi
import pulumi_kubernetes as k8s

from modules.k8s.platform import deploy_platform
from modules.spec import merged_document, validate

environment = pulumi.get_stack()
spec = validate(environment, merged_document(environment, pulumi.Config("cnai").require_object("spec")))
provider = k8s.Provider("k8s", context=spec.cluster.kube_context, enable_server_side_apply=True)
for key, value in deploy_platform(spec, provider).items():
    pulumi.export(key, value)
