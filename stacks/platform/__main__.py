"""Pulumi program of the cnai platform: `pulumi up -s <env>` in this folder.

The environment's spec is the `cnai:spec` config of its stack file, merged over its blueprint and
validated before anything is declared (see modules/k8s/platform.py for the components and order).
On eks/gke the cluster comes from the cloud stack's outputs (stacks/cloud/outputs/<env>.json).
"""

import pulumi
import pulumi_kubernetes as k8s

from modules.k8s.platform import cluster_access, deploy_platform
from modules.spec import merged_document, validate

environment = pulumi.get_stack()
spec = validate(environment, merged_document(environment, pulumi.Config("cnai").require_object("spec")))
provider = k8s.Provider("k8s", enable_server_side_apply=True, **cluster_access(spec))
for key, value in deploy_platform(spec, provider).items():
    pulumi.export(key, value)
