"""One pool, one set of facts: the labels and taints a cloud node pool gets are exactly what the pool's
Kueue ResourceFlavor selects and tolerates, and what the GPU Operator keys its sharing config on."""

from __future__ import annotations

import pytest

from modules.components.gpu_operator import gpu_operator_values, time_slicing_config_map
from modules.components.karpenter import karpenter_objects
from modules.components.kueue import flavor_name, resource_flavors
from modules.spec.gpu_functions import GKE_DEVICE_PLUGIN_OFF
from tests.cloud.conftest import resources
from tests.specs import stand_in_spec

TAINT_EFFECT = {"NO_SCHEDULE": "NoSchedule"}


def cloud_pools(env: str, stacks) -> dict[str, tuple[dict, list[dict]]]:
    """pool name -> (node labels, taints in Kubernetes spelling), read from the synthesized stack (GKE) or
    the NodePools Karpenter launches from (EKS)."""
    if env == "dev":  # EKS GPU pools are Karpenter NodePools
        templates = [o["spec"]["template"] for o in karpenter_objects(stand_in_spec(env)) if o["kind"] == "NodePool"]
        return {
            t["metadata"]["labels"]["cnai.io/gpu-pool"]: (t["metadata"]["labels"], t["spec"]["taints"])
            for t in templates
        }
    else:
        pools = resources(stacks[env], "google_container_node_pool").values()
        found = {p["name"]: (p["node_config"]["labels"], p["node_config"].get("taint", [])) for p in pools}
    return {
        name: (labels, [t | {"effect": TAINT_EFFECT[t["effect"]]} for t in taints])
        for name, (labels, taints) in found.items()
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_cloud_pool_matches_kueue_flavor_and_gpu_operator(env, stacks):
    spec = stand_in_spec(env)
    pools = cloud_pools(env, stacks)
    flavors = {f["metadata"]["name"]: f["spec"] for f in resource_flavors(spec)}
    sliced = time_slicing_config_map(spec)
    operator_tolerations = gpu_operator_values(spec)["daemonsets"]["tolerations"]
    for pool in spec.gpu_pools:
        labels, taints = pools[pool.name]
        flavor = flavors[flavor_name(pool)]
        # The nodes carry the pool's labels, and on GKE the one that turns GKE's device plugin off.
        assert {k: v for k, v in labels.items() if k not in GKE_DEVICE_PLUGIN_OFF} == flavor["nodeLabels"]
        for taint in taints:
            assert {"key": taint["key"], "operator": "Equal", "value": taint["value"], "effect": taint["effect"]} in (
                flavor["tolerations"]
            )
            assert any(t["key"] == taint["key"] and t["effect"] == taint["effect"] for t in operator_tolerations)
        if pool.sharing.mode == "time-slicing":
            assert labels["nvidia.com/device-plugin.config"] in sliced["data"]
        if pool.sharing.mode == "mig":
            assert labels["nvidia.com/mig.config"] == f"all-{pool.sharing.mig_profile}"
