"""What the EKS and GKE stacks share: names, the state backend, the outputs, and synth itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cdktn import App, GcsBackend, LocalBackend, S3Backend, TerraformOutput, TerraformStack

from modules.cloud.layout import CLOUD_APP, STACK_FILE, stack_dir
from modules.spec import Spec
from modules.versions import binary

OUTDIR = CLOUD_APP / "cdktn.out"
LOCAL_STATE_DIR = CLOUD_APP / "state"
# The names the platform reads back (modules/cloud/outputs.py); one place so both sides agree.
OUTPUTS = ("cluster_name", "cluster_endpoint", "cluster_ca", "buckets", "workload_identities")
SENSITIVE_OUTPUTS = ("cluster_ca",)


def state_settings(spec: Spec, outdir: Path, local_state_dir: Path | None) -> tuple[str, dict[str, Any]]:
    """The backend kind and its settings; a local state dir given overrides the spec (tests, trials).

    A local state file lives outside cdktn.out (re-synthesizing must never touch it), referenced
    relative to the stack folder so the synthesized JSON is the same on every machine."""
    state, key = spec.cluster.state, f"cnai/{spec.name}/cloud.tfstate"
    if local_state_dir is not None or state.backend == "local":
        folder = (local_state_dir or LOCAL_STATE_DIR).resolve()
        path = os.path.relpath(folder / f"{spec.name}.tfstate", stack_dir(outdir.resolve(), spec.name))
        return "local", {"path": path}
    if state.backend == "s3":
        region = state.region or spec.cluster.region
        return "s3", {"bucket": state.bucket, "key": key, "region": region, "encrypt": True, "use_lockfile": True}
    return "gcs", {"bucket": state.bucket, "prefix": f"cnai/{spec.name}"}  # GCS locks natively


def configure_backend(stack: TerraformStack, spec: Spec, outdir: Path, local_state_dir: Path | None) -> None:
    """The state backend, and the oldest tofu/terraform that may apply the stack."""
    kind, settings = state_settings(spec, outdir, local_state_dir)
    backend = {"local": LocalBackend, "s3": S3Backend, "gcs": GcsBackend}[kind]
    backend(stack, **settings)
    stack.add_override("terraform.required_version", f">= {binary('opentofu')}.0")


def export_outputs(stack: TerraformStack, **values: Any) -> None:
    if sorted(values) != sorted(OUTPUTS):
        raise ValueError(f"a cloud stack exports exactly {OUTPUTS}, got {sorted(values)}")
    for name, value in values.items():
        TerraformOutput(stack, name, value=value, sensitive=name in SENSITIVE_OUTPUTS)


def build_stack(app: App, spec: Spec, outdir: Path, local_state_dir: Path | None = None) -> TerraformStack:
    if spec.cluster.target == "eks":
        from modules.cloud.eks.stack import EksStack

        return EksStack(app, spec, outdir=outdir, local_state_dir=local_state_dir)
    if spec.cluster.target == "gke":
        from modules.cloud.gke.stack import GkeStack

        return GkeStack(app, spec, outdir=outdir, local_state_dir=local_state_dir)
    raise ValueError(f"{spec.name}: cluster.target {spec.cluster.target} has no cloud stack (eks, gke do)")


def cloud_app(outdir: Path) -> App:
    """The cdktn app, told which tofu/terraform releases apply it (its validations check features against them)."""
    targets = {"opentofu": f">={binary('opentofu')}.0", "terraform": f">={binary('terraform')}.0"}
    return App(outdir=str(outdir), context={"targetVersions": targets})


def synth(spec: Spec, outdir: Path = OUTDIR, local_state_dir: Path | None = None) -> Path:
    """Writes <outdir>/stacks/<env>/cdk.tf.json and returns its path."""
    outdir.mkdir(parents=True, exist_ok=True)
    app = cloud_app(outdir)
    build_stack(app, spec, outdir, local_state_dir)
    app.synth()
    return stack_dir(outdir, spec.name) / STACK_FILE


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _struct_list_item(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _struct_list_item(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_struct_list_item(v) for v in value]
    return value


def jsii_args(value: Any) -> Any:
    """Builder output as jsii takes it: Python converts the keys of top-level structs itself, but the
    structs inside lists (taints, routes, lifecycle rules) arrive as plain maps and need jsii's camelCase."""
    if isinstance(value, dict):
        return {k: jsii_args(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_struct_list_item(v) for v in value]
    return value


def declare(resource: type[Any], scope: Any, construct_id: str, **attributes: Any) -> Any:
    """Declares one resource from builder data (see jsii_args)."""
    return resource(scope, construct_id, **jsii_args(attributes))
