"""Server-side apply of authored objects to a real API server, the sim's or a cluster's (the
`kubernetes` client, field manager `cnai`).

Every object goes through the real API server: OpenAPI and CRD schema validation, CEL rules,
defaulting and admission webhooks. Rejections are collected, not raised one by one, so one run names
every object the server refused.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

FIELD_MANAGER = "cnai"  # objects cnai authors
SIM_MANAGER = "cnai-sim"  # what the sim itself installs (chart objects, nodes)


@dataclass(frozen=True)
class Rejected:
    kind: str
    name: str
    namespace: str | None
    status: int
    reason: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}: HTTP {self.status}: {self.reason}"


class ApplyError(Exception):
    def __init__(self, rejected: list[Rejected]) -> None:
        self.rejected = rejected
        super().__init__(f"{len(rejected)} object(s) rejected:\n" + "\n".join(f"  {r}" for r in rejected))


def client(kubeconfig: Path) -> DynamicClient:
    return DynamicClient(kube_config.new_client_from_config(config_file=str(kubeconfig)))


def api_client(kubeconfig: Path) -> ApiClient:
    return kube_config.new_client_from_config(config_file=str(kubeconfig))


def reason(exc: ApiException) -> str:
    """The API server's message of a refusal (the Status body's `message`)."""
    try:
        return json.loads(exc.body).get("message", exc.body)
    except (TypeError, ValueError):
        return str(exc.body or exc.reason)


def resource_of(dyn: DynamicClient, obj: dict[str, Any]) -> Any:
    try:
        return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    except ResourceNotFoundError:
        dyn.resources.invalidate_cache()  # a CRD applied a moment ago
        return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])


def apply_one(
    dyn: DynamicClient, obj: dict[str, Any], manager: str = FIELD_MANAGER, dry_run: bool = False
) -> dict[str, Any]:
    """Server-side apply; `dry_run`: every admission step (schemas, CEL, webhooks, Pod Security) runs,
    nothing is stored."""
    meta = obj["metadata"]
    resource = resource_of(dyn, obj)
    result = resource.server_side_apply(
        body=obj,
        name=meta["name"],
        namespace=meta.get("namespace"),
        field_manager=manager,
        force_conflicts=True,
        **({"dry_run": "All"} if dry_run else {}),
    )
    return result.to_dict()


def apply_all(
    dyn: DynamicClient,
    objects: list[dict[str, Any]],
    retries_for_webhooks: float = 0,
    manager: str = FIELD_MANAGER,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Apply every object in order; raise ApplyError naming all that were rejected.

    `retries_for_webhooks`: seconds to retry an object whose webhook is not reachable yet (HTTP 500
    with "failed calling webhook"), as a controller's webhook comes up after its configuration."""
    applied, rejected = [], []
    for obj in objects:
        deadline = time.monotonic() + retries_for_webhooks
        while True:
            try:
                applied.append(apply_one(dyn, obj, manager, dry_run))
                break
            except ApiException as exc:
                message = reason(exc)
                if "failed calling webhook" in message and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                meta = obj["metadata"]
                rejected.append(Rejected(obj["kind"], meta["name"], meta.get("namespace"), exc.status, message))
                break
            except ResourceNotFoundError as exc:
                meta = obj["metadata"]
                rejected.append(Rejected(obj["kind"], meta["name"], meta.get("namespace"), 404, str(exc)))
                break
    if rejected:
        raise ApplyError(rejected)
    return applied


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.3) -> Any:
    """Poll check() until it returns something truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ApiException as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s (last: {last!r})"[:2000])


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The status condition of type `kind` of an object (as a dict), if it has one."""
    for found in ((obj or {}).get("status") or {}).get("conditions") or []:
        if found["type"] == kind:
            return found
    return None


def is_true(obj: dict[str, Any] | None, kind: str) -> bool:
    return (condition(obj, kind) or {}).get("status") == "True"


def crds_established(dyn: DynamicClient, names: list[str]) -> bool:
    api = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    return all(is_true(api.get(name=name).to_dict(), "Established") for name in names)


def delete_all(dyn: DynamicClient, objects: list[dict[str, Any]]) -> None:
    """Delete in reverse order of application (dependants first); already gone is fine."""
    for obj in reversed(objects):
        meta = obj["metadata"]
        with contextlib.suppress(ApiException):
            resource_of(dyn, obj).delete(
                name=meta["name"], namespace=meta.get("namespace"), body={"propagationPolicy": "Background"}
            )
