"""The EKS VPC: a private and a public subnet per zone, the internet gateway, NAT, routes and flow logs."""

from __future__ import annotations

import ipaddress
from typing import Any

from cdktn import TerraformStack
from cdktn_provider_aws import (
    cloudwatch_log_group,
    default_security_group,
    eip,
    flow_log,
    iam_role_policy,
    internet_gateway,
    kms_key,
    nat_gateway,
    route_table,
    route_table_association,
    subnet,
    vpc,
)

from modules.cloud.eks.policies import policy_document, service_role
from modules.cloud.stack import declare
from modules.spec import Spec
from modules.spec.karpenter import DISCOVERY_TAG, uses_karpenter

VPC_CIDR = "10.0.0.0/16"
LOG_RETENTION_DAYS = 365
ANYWHERE = "0.0.0.0/0"


def subnet_layout(zones: list[str]) -> list[dict[str, Any]]:
    """A private /19 (nodes, pods) and a public /22 (load balancers, NAT) per zone."""
    network = ipaddress.ip_network(VPC_CIDR)
    private = list(network.subnets(new_prefix=19))
    public = list(private[-1].subnets(new_prefix=22))
    return [{"zone": zone, "private": str(private[i]), "public": str(public[i])} for i, zone in enumerate(zones)]


def nat_zones(spec: Spec) -> list[str]:
    """One NAT gateway per zone where the environment is protected (zone failure), one otherwise (cost)."""
    return list(spec.cluster.zones) if spec.cluster.protect else list(spec.cluster.zones[:1])


def subnet_tags(spec: Spec, load_balancers: str) -> dict[str, str]:
    """Where the AWS load balancer controller puts `load_balancers` (elb: public, internal-elb: private)."""
    return {f"kubernetes.io/cluster/{spec.cluster_name}": "shared", f"kubernetes.io/role/{load_balancers}": "1"}


def declare_network(stack: TerraformStack, spec: Spec, key: kms_key.KmsKey) -> list[subnet.Subnet]:
    """The VPC; returns its private subnets, where the nodes and pods run."""
    network = declare(
        vpc.Vpc,
        stack,
        "vpc",
        cidr_block=VPC_CIDR,
        enable_dns_hostnames=True,
        enable_dns_support=True,
        tags={"Name": spec.cluster_name},
    )
    # No rules: nothing may use the default security group.
    declare(default_security_group.DefaultSecurityGroup, stack, "vpc-default-sg", vpc_id=network.id)
    _flow_logs(stack, spec, network, key)
    layout = subnet_layout(list(spec.cluster.zones))
    public = _public_subnets(stack, spec, network, layout)
    nats = _nat_gateways(stack, spec, public)
    return [_private_subnet(stack, spec, network, row, nats) for row in layout]


def _flow_logs(stack: TerraformStack, spec: Spec, network: vpc.Vpc, key: kms_key.KmsKey) -> None:
    group = declare(
        cloudwatch_log_group.CloudwatchLogGroup,
        stack,
        "flow-logs",
        name=f"/cnai/{spec.name}/vpc-flow-logs",
        retention_in_days=LOG_RETENTION_DAYS,
        kms_key_id=key.arn,
    )
    role = service_role(
        stack, "flow-logs", name=f"{spec.cluster_name}-flow-logs", service="vpc-flow-logs.amazonaws.com"
    )
    writes_logs = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    statement = {"Effect": "Allow", "Action": writes_logs, "Resource": f"{group.arn}:*"}
    declare(iam_role_policy.IamRolePolicy, stack, "flow-logs-policy", role=role.id, policy=policy_document([statement]))
    declare(
        flow_log.FlowLog,
        stack,
        "vpc-flow-log",
        vpc_id=network.id,
        traffic_type="ALL",
        log_destination=group.arn,
        iam_role_arn=role.arn,
    )


def _public_subnets(
    stack: TerraformStack, spec: Spec, network: vpc.Vpc, layout: list[dict[str, Any]]
) -> dict[str, subnet.Subnet]:
    """Zone -> its public subnet, routed to the internet gateway."""
    gateway = declare(internet_gateway.InternetGateway, stack, "igw", vpc_id=network.id)
    routes = _route_table(stack, "public-routes", network, {"gateway_id": gateway.id})
    public: dict[str, subnet.Subnet] = {}
    for row in layout:
        zone = row["zone"]
        public[zone] = _subnet(stack, f"public-{zone}", network, row["public"], zone, subnet_tags(spec, "elb"))
        _associate(stack, f"public-{zone}-routes", public[zone], routes)
    return public


def _nat_gateways(
    stack: TerraformStack, spec: Spec, public: dict[str, subnet.Subnet]
) -> dict[str, nat_gateway.NatGateway]:
    """Zone -> its NAT gateway, in the zones of nat_zones (each with its own address)."""
    nats: dict[str, nat_gateway.NatGateway] = {}
    for zone in nat_zones(spec):
        address = declare(eip.Eip, stack, f"nat-{zone}-ip", domain="vpc")
        nats[zone] = declare(
            nat_gateway.NatGateway, stack, f"nat-{zone}", allocation_id=address.id, subnet_id=public[zone].id
        )
    return nats


def _private_subnet(
    stack: TerraformStack,
    spec: Spec,
    network: vpc.Vpc,
    row: dict[str, Any],
    nats: dict[str, nat_gateway.NatGateway],
) -> subnet.Subnet:
    """A zone's private subnet, out through its zone's NAT gateway or else the one there is."""
    zone = row["zone"]
    # Karpenter launches GPU nodes into the subnets carrying its discovery tag.
    discovery = {DISCOVERY_TAG: spec.cluster_name} if uses_karpenter(spec) else {}
    tags = subnet_tags(spec, "internal-elb") | discovery
    private = _subnet(stack, f"private-{zone}", network, row["private"], zone, tags)
    nat = nats.get(zone) or next(iter(nats.values()))
    routes = _route_table(stack, f"private-{zone}-routes", network, {"nat_gateway_id": nat.id})
    _associate(stack, f"private-{zone}-assoc", private, routes)
    return private


def _subnet(
    stack: TerraformStack, construct_id: str, network: vpc.Vpc, cidr: str, zone: str, tags: dict[str, str]
) -> subnet.Subnet:
    return declare(
        subnet.Subnet, stack, construct_id, vpc_id=network.id, cidr_block=cidr, availability_zone=zone, tags=tags
    )


def _route_table(
    stack: TerraformStack, construct_id: str, network: vpc.Vpc, target: dict[str, str]
) -> route_table.RouteTable:
    """A table whose default route leaves through `target` (an internet or NAT gateway)."""
    return declare(
        route_table.RouteTable, stack, construct_id, vpc_id=network.id, route=[{"cidr_block": ANYWHERE} | target]
    )


def _associate(stack: TerraformStack, construct_id: str, routed: subnet.Subnet, routes: route_table.RouteTable) -> None:
    declare(
        route_table_association.RouteTableAssociation,
        stack,
        construct_id,
        subnet_id=routed.id,
        route_table_id=routes.id,
    )
