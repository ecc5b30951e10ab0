"""The cloud stack's outputs, as the platform stack reads them.

One path: after `tofu apply`, `tofu output -json > stacks/cloud/outputs/<env>.json` (`cnai up` does
it). The platform program reads that file, checks it belongs to the spec it deploys (same buckets,
same workload identities: a stale file from an older spec is an error, not a surprise), and builds
the Kubernetes provider's kubeconfig from the cluster endpoint and CA.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from modules.cloud.buckets import bucket_names
from modules.cloud.layout import cloud_dir
from modules.components.catalog import workloads
from modules.errors import CnaiError
from modules.spec import Spec

OUTPUTS_DIR = cloud_dir() / "outputs"


class CloudOutputsError(CnaiError, ValueError):
    """The outputs file is missing, malformed, or from another version of the spec."""


class CloudOutputs(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    cluster_name: str
    cluster_endpoint: str
    cluster_ca: str
    buckets: dict[str, str]
    workload_identities: dict[str, str]


def outputs_path(env: str, folder: Path = OUTPUTS_DIR) -> Path:
    return folder / f"{env}.json"


def parse_outputs(document: dict[str, Any]) -> CloudOutputs:
    """`tofu output -json` wraps each value: {"name": {"value": ..., "type": ..., "sensitive": ...}}."""
    values = {name: entry.get("value") if isinstance(entry, dict) else entry for name, entry in document.items()}
    try:
        return CloudOutputs.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise CloudOutputsError(f"cloud outputs: {problems}") from None


def check_matches_spec(spec: Spec, outputs: CloudOutputs) -> None:
    expected_buckets = bucket_names(spec)
    if outputs.buckets != expected_buckets:
        raise CloudOutputsError(
            f"cloud outputs of {spec.name} name buckets {outputs.buckets}, the spec derives {expected_buckets}: "
            f"run `cnai up {spec.name}` (or tofu apply) for the current spec"
        )
    expected_identities = sorted(w.name for w in workloads(spec))
    if sorted(outputs.workload_identities) != expected_identities:
        raise CloudOutputsError(
            f"cloud outputs of {spec.name} have identities {sorted(outputs.workload_identities)}, "
            f"the spec needs {expected_identities}: apply the cloud stack again"
        )


def load_outputs(spec: Spec, folder: Path = OUTPUTS_DIR) -> CloudOutputs:
    path = outputs_path(spec.name, folder)
    if not path.is_file():
        raise CloudOutputsError(
            f"{path} not found: apply the cloud stack first (`cnai up {spec.name}`, or "
            f"`tofu -chdir=stacks/cloud/cdktn.out/stacks/{spec.name} output -json > {path}`)"
        )
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CloudOutputsError(f"{path}: not JSON ({error})") from None
    outputs = parse_outputs(document)
    check_matches_spec(spec, outputs)
    return outputs


def _exec_credentials(spec: Spec, outputs: CloudOutputs) -> dict[str, Any]:
    """Short-lived tokens from the cloud CLI, never a static credential in the kubeconfig."""
    if spec.cluster.target == "eks":
        args = ["eks", "get-token", "--cluster-name", outputs.cluster_name, "--region", spec.cluster.region or ""]
        return {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": args}
    return {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "gke-gcloud-auth-plugin",
        "provideClusterInfo": True,
    }


def kubeconfig(spec: Spec, outputs: CloudOutputs) -> dict[str, Any]:
    server = outputs.cluster_endpoint
    if not server.startswith("https://"):
        server = f"https://{server}"  # GKE reports a bare address
    name = outputs.cluster_name
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": outputs.cluster_ca}}],
        "users": [{"name": name, "user": {"exec": _exec_credentials(spec, outputs)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
