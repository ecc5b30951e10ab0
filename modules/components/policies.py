"""NetworkPolicy building blocks shared by the security baseline and the components' own policies.

Every namespace cnai creates denies all traffic (modules/components/security.py); each allow is its own
NetworkPolicy, named for the traffic it lets through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from modules.components.objects import k8s_object

NETWORK_API = "networking.k8s.io/v1"
NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every namespace
# Namespaces whose pods may call the platform's services (the services admit them by this label).
CLIENT_LABEL = "cnai.io/platform-client"
# Namespaces whose routes the Gateway admits (modules/components/kserve.py): every team namespace, since
# any team may serve models (each gets a model ServiceAccount); no platform namespace.
GATEWAY_ACCESS_LABEL = "cnai.io/gateway-access"
HTTP_PORT, HTTPS_PORT = 80, 443
# Cloud object stores and package mirrors answer on public addresses: allowed with the private and
# link-local ranges cut out, so such an allow is no way into the VPC, the nodes, other pods or the
# instance metadata service.
PUBLIC = {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]}
# Where a pod's cloud workload identity (modules/components/identities.py) gets its credentials: the EKS
# Pod Identity agent; GKE's metadata server (on Dataplane V2, which cnai's GKE clusters run).
IDENTITY_ENDPOINTS = {"eks": ("169.254.170.23/32", HTTP_PORT), "gke": ("169.254.169.254/32", HTTP_PORT)}


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or {"http": HTTP_PORT, "https": HTTPS_PORT}[parts.scheme]


def matching(labels: Mapping[str, str]) -> dict[str, Any]:
    """A label selector ({}: everything)."""
    return {"matchLabels": dict(labels)} if labels else {}


def in_namespace(ns: str, pods: dict[str, Any] | None = None) -> dict[str, Any]:
    """A peer: the pods of one namespace (all of them without a pod selector)."""
    peer: dict[str, Any] = {"namespaceSelector": matching({NAME_LABEL: ns})}
    return peer | ({"podSelector": pods} if pods else {})


def tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def network_policy(
    name: str,
    ns: str,
    pods: dict[str, Any] | None = None,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A NetworkPolicy for the selected pods (all of the namespace's by default), directions explicit."""
    spec: dict[str, Any] = {"podSelector": pods or {}}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    spec["policyTypes"] = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    return k8s_object(NETWORK_API, "NetworkPolicy", name, ns, spec=spec)


def egress_to_public(name: str, ns: str, *ports: int) -> dict[str, Any]:
    """Egress to public addresses only (cloud APIs, package mirrors) on these ports."""
    return network_policy(name, ns, egress=[{"to": [{"ipBlock": PUBLIC}], "ports": tcp(*ports)}])


def egress_to_workload_identity(ns: str, target: str) -> dict[str, Any]:
    """Egress to the endpoint that hands a pod its cloud credentials on this target."""
    cidr, port = IDENTITY_ENDPOINTS[target]
    rule = {"to": [{"ipBlock": {"cidr": cidr}}], "ports": tcp(port)}
    return network_policy("allow-to-workload-identity", ns, egress=[rule])
