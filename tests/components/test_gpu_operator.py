"""GPU Operator values and sharing config, derived from the pools."""

from __future__ import annotations

import yaml

from modules.components.gpu_operator import TIME_SLICING_CONFIG, gpu_operator_values, time_slicing_config_map
from tests.specs import stand_in, stand_in_spec


def test_driver_strategy_is_explicit():
    assert gpu_operator_values(stand_in_spec("dev"))["driver"]["enabled"] is False  # EKS AMI ships the driver
    document = stand_in("dev")
    document["components"]["gpu_operator"]["driver"] = "operator"
    from modules.spec import validate

    assert gpu_operator_values(validate("dev", document))["driver"]["enabled"] is True


def test_time_slicing_pool_gets_its_replicas_and_selects_them_by_label():
    spec = stand_in_spec("dev")
    [pool] = spec.gpu_pools
    config = time_slicing_config_map(spec)
    profile = yaml.safe_load(config["data"][pool.name])
    assert profile["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert pool.node_labels["nvidia.com/device-plugin.config"] == pool.name
    assert gpu_operator_values(spec)["devicePlugin"]["config"]["name"] == TIME_SLICING_CONFIG


def test_mig_pool_turns_on_the_mig_manager_and_labels_its_profile():
    spec = stand_in_spec("prod")
    values = gpu_operator_values(spec)
    assert values["migManager"]["enabled"] and values["mig"]["strategy"] == "single"
    assert spec.pool("a100-mig").node_labels["nvidia.com/mig.config"] == "all-1g.10gb"
    assert time_slicing_config_map(spec) is None


def test_daemonsets_tolerate_the_gpu_taint_and_dcgm_is_scraped():
    values = gpu_operator_values(stand_in_spec("prod"))
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["daemonsets"][
        "tolerations"
    ]
    assert values["dcgmExporter"]["serviceMonitor"]["enabled"]
