"""docs/spec.md, generated from the models so the reference can never drift from the code."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from modules.spec.accelerators import ACCELERATORS
from modules.spec.checks import PUBLIC_PREFIX
from modules.spec.loader import MAX_FILE_BYTES, NAME_RULE
from modules.spec.models import Spec
from modules.spec.namespaces import PLATFORM_NAMESPACES, SYSTEM_NAMESPACES, SYSTEM_PREFIX
from modules.spec.yaml_bounded import MAX_ALIASES, MAX_DEPTH, MAX_VALUES

HEADER = """# Environment spec reference

Generated from `modules/spec/models.py` by `cnai spec docs` - do not edit by hand
(`tests/spec/test_reference.py` fails when this page is stale).

An environment lives in `stacks/platform/Pulumi.<env>.yaml` under the `cnai:spec` config key. It names a
blueprint (`blueprints/<name>.yaml`) and overrides it: mappings merge key by key, lists are replaced
whole. Unknown keys are errors. Credentials are never plaintext: a secret is `{secure: ...}` (written by
`pulumi config set --secret`), `{env: VAR}` or `{generate: true}`.

Check an environment with `cnai spec check ENV`; see the merged result with `cnai spec show ENV`.
On eks and gke, where cnai picks the machines, the check also proves that every workload cnai pins to a
GPU pool (the smoke jobs, the GPU serving runtime) fits one node of the pool after the cloud's kubelet
reservation (`modules/components/fit.py`; the figures are the sim's node allocatable): an error names the
workload, the pool, the instance type, and requested vs allocatable CPU and memory.
"""

_PLATFORM_NAMESPACES = ", ".join(f"`{ns}`" for ns in PLATFORM_NAMESPACES.values())
RULES = f"""
Limits: a stack file or blueprint is UTF-8 and at most {MAX_FILE_BYTES // 2**20} MiB.
YAML nests at most {MAX_DEPTH} levels, uses at most {MAX_ALIASES} aliases (`*name`) and holds at most {MAX_VALUES:,} values once aliases are expanded.
Environment and blueprint names are {NAME_RULE}.

Rules beyond the types below (`modules/spec/checks.py`), among them:
a team's namespace is not Kubernetes' ({", ".join(f"`{ns}`" for ns in SYSTEM_NAMESPACES)}, `{SYSTEM_PREFIX}*`),
not the platform's ({_PLATFORM_NAMESPACES}) and not another team's;
a cluster environment has at least one team;
`cluster.api_access_cidrs` are IPv4 CIDRs, none wider than /{PUBLIC_PREFIX} (such as `0.0.0.0/0`) unless `cluster.allow_public_api: true`;
zones, buckets, GPU pools, hosts and teams are listed once; a secret is never empty;
a GPU pool's `min_nodes` is at most its `max_nodes`, and 0 on EKS (Karpenter scales its pools from zero and keeps no minimum);
a MIG pool on EKS needs `gpu_operator.mig_strategy: single` (Karpenter launches for `nvidia.com/gpu`, not `nvidia.com/mig-*`).
"""  # noqa: E501


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "(see below)" if isinstance(value, BaseModel) else f"`{value}`"
    return f"`{field.default}`"


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _nested_models(arg)]


def _section(model: type[BaseModel]) -> list[str]:
    lines = [f"## {model.__name__}", "", (model.__doc__ or "").strip(), ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    for key, field in model.model_fields.items():
        pattern = next((m.pattern for m in field.metadata if getattr(m, "pattern", None)), None)
        description = (field.description or "") + (f" (pattern `{pattern}`)" if pattern else "")
        description = description.replace("|", "\\|")
        lines.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {description} |")
    return [*lines, ""]


def spec_reference() -> str:
    seen: list[type[BaseModel]] = []
    queue: list[type[BaseModel]] = [Spec]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            queue.extend(_nested_models(field.annotation))
    body = [line for model in seen for line in _section(model)]
    accel = [
        "## Accelerator registry",
        "",
        "| key | memory GB | bf16 TFLOPS (dense) | memory GB/s | MIG profiles |",
        "|---|---|---|---|---|",
    ]
    accel += [
        f"| `{a.key}` | {a.memory_gb} | {a.bf16_tflops:g} | {a.mem_bw_gbs:g} | {', '.join(a.mig_profiles) or '-'} |"
        for a in ACCELERATORS.values()
    ]
    return "\n".join([HEADER + RULES, *body, *accel]) + "\n"
