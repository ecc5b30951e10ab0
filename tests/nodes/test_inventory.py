"""The inventory of bare-metal GPU nodes is derived from the spec, never written by hand."""

from __future__ import annotations

import yaml

from modules.components.gpu_operator import gpu_operator_values
from modules.components.kueue import flavor_name, resource_flavors
from modules.nodes.inventory import SUPPORTED_DISTRIBUTIONS, node_inventory, pool_group
from modules.spec import load_spec
from modules.versions import binary
from tests import specs
from tests.conftest import assert_golden
from tests.test_cli import cnai


def test_golden_onprem_inventory():
    """What the shipped onprem environment renders (the golden is of the shipped file, on purpose)."""
    assert_golden("nodes/onprem-inventory.yml", yaml.safe_dump(node_inventory(load_spec("onprem")), sort_keys=False))


def test_one_group_per_pool_with_its_hosts_and_their_connection():
    spec = specs.spec(specs.onprem_like())
    groups = node_inventory(spec)["all"]["children"]
    assert list(groups) == ["gpu_pool_l40s", "gpu_pool_a100_mig"]
    for pool in spec.gpu_pools:
        group = groups[pool_group(pool)]
        assert group["hosts"] == {h.name: {"ansible_host": h.address, "ansible_user": h.user} for h in pool.hosts}
        assert group["vars"]["cnai_pool"] == pool.name
        assert group["vars"]["cnai_gpus_per_node"] == pool.gpus_per_node


def test_node_labels_and_taints_are_what_the_kueue_flavor_and_gpu_operator_select_on():
    spec = specs.spec(specs.onprem_like())
    groups = node_inventory(spec)["all"]["children"]
    flavors = {f["metadata"]["name"]: f["spec"] for f in resource_flavors(spec)}
    for pool in spec.gpu_pools:
        group_vars = groups[pool_group(pool)]["vars"]
        flavor = flavors[flavor_name(pool)]
        assert group_vars["cnai_node_labels"] == flavor["nodeLabels"]
        tolerated = [{k: t[k] for k in ("key", "value", "effect")} for t in flavor["tolerations"]]
        assert group_vars["cnai_node_taints"] == tolerated
    mig = groups["gpu_pool_a100_mig"]["vars"]["cnai_node_labels"]
    assert mig["nvidia.com/mig.config"] == "all-1g.10gb", "the MIG manager selects the partitioning by this label"


def test_driver_and_toolkit_are_installed_by_exactly_one_side():
    spec = specs.spec(specs.onprem_document())
    shared = node_inventory(spec)["all"]["vars"]
    values = gpu_operator_values(spec)
    assert shared["cnai_driver"] == "preinstalled" and values["driver"]["enabled"] is False
    assert shared["cnai_toolkit"] == "preinstalled" and values["toolkit"]["enabled"] is False


def test_versions_come_from_the_bill_of_materials():
    versions = node_inventory(specs.spec(specs.onprem_document()))["all"]["vars"]["cnai_versions"]
    assert versions["nvidia_driver_branch"] == {
        "Debian": binary("nvidia-driver-branch-debian12"),
        "Ubuntu": binary("nvidia-driver-branch"),
    }
    assert versions["nvidia_container_toolkit"] == binary("nvidia-container-toolkit")
    assert set(versions["nvidia_driver_branch"]) == set(SUPPORTED_DISTRIBUTIONS)


def test_cli_writes_the_inventory_and_refuses_environments_without_hosts(tmp_path):
    out = tmp_path / "inventory.yml"
    proc = cnai("nodes", "inventory", "onprem", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(out.read_text()) == node_inventory(load_spec("onprem"))
    proc = cnai("nodes", "inventory", "dev")
    assert proc.returncode == 1 and "declares no bare-metal hosts" in proc.stderr and "Traceback" not in proc.stderr
