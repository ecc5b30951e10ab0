"""The EKS VPC (modules/cloud/eks/network.py), synthesized for dev."""

from __future__ import annotations

from modules.cloud.eks.network import nat_zones, subnet_layout
from tests.cloud.conftest import resources
from tests.specs import stand_in_spec


def test_network_layout_spreads_zones_and_saves_nat_where_unprotected():
    layout = subnet_layout(["a", "b", "c"])
    assert [row["private"] for row in layout] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert len({row["public"] for row in layout}) == 3
    assert nat_zones(stand_in_spec("dev")) == ["us-east-1a"]


def test_private_subnets_leave_through_nat_and_public_ones_through_the_internet_gateway(stacks):
    stack = stacks["dev"]
    tables = resources(stack, "aws_route_table")
    routed = {a["subnet_id"]: a["route_table_id"] for a in resources(stack, "aws_route_table_association").values()}
    for name in resources(stack, "aws_subnet"):
        table = routed[f"${{aws_subnet.{name}.id}}"].split(".")[1]
        [route] = tables[table]["route"]
        assert route["cidr_block"] == "0.0.0.0/0"
        expected = "aws_nat_gateway" if name.startswith("private-") else "aws_internet_gateway"
        assert expected in str(route), name


def test_flow_logs_capture_all_traffic_into_a_kms_encrypted_group(stacks):
    stack = stacks["dev"]
    [flow_log] = resources(stack, "aws_flow_log").values()
    assert flow_log["traffic_type"] == "ALL"
    assert resources(stack, "aws_cloudwatch_log_group")["flow-logs"]["kms_key_id"] == "${aws_kms_key.key.arn}"
