"""One installer per GPU function on every environment's GPU nodes, read from what the stacks actually
configure (node images, GKE's accelerator settings, the GPU Operator's values, the bare-metal roles),
not from the owners table itself."""

from __future__ import annotations

import pytest

from modules.cloud.node_pools import gke_node_pools
from modules.components.gpu_operator import deployed, gpu_operator_values
from modules.components.karpenter import karpenter_objects
from modules.spec import Spec, SpecInvalid, validate
from modules.spec.gpu_functions import GKE_DEVICE_PLUGIN_OFF, gpu_function_owners
from modules.versions import binary
from tests import specs

# Every target that has GPU functions to own, in its builder's default shape and in the shapes with
# the other choices (the AMI's driver on EKS, MIG partitions, bare metal with two pools).
GPU_SPECS = {
    "eks": specs.eks_document,
    "eks-preinstalled-spot-time-sliced": specs.dev_like,
    "gke": specs.gke_document,
    "gke-mig": specs.prod_like,
    "existing": specs.onprem_document,
    "existing-mig": specs.onprem_like,
}
GPU_ENVS = [e for e, build in GPU_SPECS.items() if gpu_function_owners(specs.spec(build())) is not None]


def gpu_spec(env: str) -> Spec:
    return specs.spec(GPU_SPECS[env]())


def nvidia_images(spec) -> bool:
    """Whether Karpenter launches the GPU pools from the AL2023 alias (the NVIDIA image, with driver and
    toolkit, for GPU instances) rather than the standard image's SSM parameter."""
    terms = [t for o in karpenter_objects(spec) if o["kind"] == "EC2NodeClass" for t in o["spec"]["amiSelectorTerms"]]
    assert terms, "no EC2NodeClass: the EKS GPU pools would get no nodes"
    return any("alias" in t for t in terms)


def installers(spec: Spec) -> dict[str, set[str]]:
    """Function -> every component whose configuration installs it on the GPU nodes."""
    found: dict[str, set[str]] = {f: set() for f in ("driver", "toolkit", "device_plugin", "mig_manager")}
    if deployed(spec):
        values = gpu_operator_values(spec)
        for function, key in (("driver", "driver"), ("toolkit", "toolkit"), ("device_plugin", "devicePlugin")):
            if values[key]["enabled"]:
                found[function].add("gpu-operator")
        if values["migManager"]["enabled"]:
            found["mig_manager"].add("gpu-operator")
    target = spec.cluster.target
    if target == "eks" and nvidia_images(spec):
        found["driver"].add("eks-nvidia-ami")
        found["toolkit"].add("eks-nvidia-ami")
    if target == "gke":
        gpu_pools = [p for p in gke_node_pools(spec) if p["node_config"].get("guest_accelerator")]
        for pool in gpu_pools:
            accelerator = pool["node_config"]["guest_accelerator"][0]
            if accelerator["gpu_driver_installation_config"]["gpu_driver_version"] != "INSTALLATION_DISABLED":
                found["driver"].add("gke")
            if not GKE_DEVICE_PLUGIN_OFF.items() <= pool["node_config"]["labels"].items():
                found["device_plugin"].add("gke")
            if "gpu_partition_size" in accelerator:
                found["mig_manager"].add("gke")
    if target not in ("eks", "gke"):  # bare metal: the roles install what the spec says is preinstalled
        operator = spec.components.gpu_operator
        if operator.driver == "preinstalled":
            found["driver"].add("modules/nodes")
        if operator.toolkit == "preinstalled":
            found["toolkit"].add("modules/nodes")
    return found


@pytest.mark.parametrize("env", GPU_ENVS)
def test_every_gpu_function_has_exactly_one_installer(env: str):
    spec = gpu_spec(env)
    found = installers(spec)
    partitioned = any(p.sharing.mode == "mig" for p in spec.gpu_pools)
    assert {f: len(who) for f, who in found.items()} == {
        "driver": 1,
        "toolkit": 1,
        "device_plugin": 1,
        "mig_manager": 1 if partitioned else 0,
    }, found


@pytest.mark.parametrize("env", [e for e in GPU_ENVS if gpu_spec(e).cluster.target == "gke"])
def test_gke_driver_comes_from_the_bom_never_latest(env: str):
    for pool in gke_node_pools(gpu_spec(env))[1:]:
        version = pool["node_config"]["guest_accelerator"][0]["gpu_driver_installation_config"]["gpu_driver_version"]
        assert version == binary("gke-gpu-driver") and version != "LATEST"


@pytest.mark.parametrize(
    ("env", "change", "path"),
    [
        ("gke", {"driver": "operator"}, "components.gpu_operator.driver"),  # gke: needs Ubuntu nodes
        ("eks", {"toolkit": "operator"}, "components.gpu_operator.toolkit"),  # eks: the AMI decides
    ],
)
def test_a_setting_that_would_give_a_function_a_second_owner_is_refused(env: str, change: dict, path: str):
    doc = GPU_SPECS[env]()
    doc["components"]["gpu_operator"] |= change
    with pytest.raises(SpecInvalid) as refused:
        validate(env, doc)
    assert [e.path for e in refused.value.errors] == [path]


def test_eks_with_the_operators_driver_uses_the_standard_image():
    doc = specs.dev_like()
    doc["components"]["gpu_operator"]["driver"] = "operator"
    spec = validate("dev", doc)
    assert not nvidia_images(spec)
    values = gpu_operator_values(spec)
    assert values["driver"] == {"enabled": True, "version": binary("nvidia-driver-operator")}
    assert values["toolkit"]["enabled"] is True
    for node_class in (o for o in karpenter_objects(spec) if o["kind"] == "EC2NodeClass"):
        [term] = node_class["spec"]["amiSelectorTerms"]
        assert "/x86_64/standard/" in term["ssmParameter"] and binary("eks-al2023-ami") in term["ssmParameter"]
