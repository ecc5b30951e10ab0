"""`cnai doctor ENV`: preflight of a cluster environment, before anything is created.

Each finding is ok / warn / fail with the fix in one line. Checks that need a tool which is missing
are not attempted (the missing tool is the finding).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Literal

from modules.cloud.node_pools import gke_driver_version
from modules.cluster.paths import ClusterPaths
from modules.cluster.tools import TOOLS, Shell, at_least, required_tools
from modules.spec import GpuPool, Spec, SpecInvalid, load_spec
from modules.spec.models import CLOUD_TARGETS

Level = Literal["ok", "warn", "fail"]
# EC2 vCPU quotas by instance family (Service Quotas codes).
EC2_QUOTA_CODES = {
    ("g", False): "L-DB2E81BA",
    ("p", False): "L-417A185B",
    ("g", True): "L-3819A6DF",
    ("p", True): "L-7212CCBC",
}


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    detail: str
    fix: str = ""


def diagnose(env: str, shell: Shell, paths: ClusterPaths) -> list[Finding]:
    try:
        spec = load_spec(env)
    except SpecInvalid as invalid:
        return [
            Finding("spec", "fail", str(e), "fix the field in stacks/platform/Pulumi.<env>.yaml")
            for e in invalid.errors
        ]
    findings = [Finding("spec", "ok", f"{env}: valid ({spec.cluster.target}, blueprint {spec.blueprint})")]
    if not spec.is_cluster:
        return [*findings, Finding("target", "ok", "local runs no cluster: `cnai up local` needs no external tool")]
    findings += list(_tools(spec, shell))
    present = {f.check.removeprefix("tool ") for f in findings if f.level == "ok" and f.check.startswith("tool ")}
    checks = (_credentials, _state_backend, _pulumi_stack, _gpu_quota, _driver_strategy, _network_policy_enforcement)
    for check in checks:
        findings += list(check(spec, shell, paths, present))
    return findings


def failed(findings: list[Finding]) -> bool:
    return any(f.level == "fail" for f in findings)


def as_json(findings: list[Finding]) -> str:
    return json.dumps([asdict(f) for f in findings], indent=2)


def _tools(spec: Spec, shell: Shell) -> Iterator[Finding]:
    for alternatives in required_tools(spec):
        found = [name for name in alternatives if shell.which(name)]
        if not found:
            tool = TOOLS[alternatives[0]]
            yield Finding(f"tool {tool.name}", "fail", f"{' or '.join(alternatives)} not on PATH", tool.install)
            continue
        tool = TOOLS[found[0]]
        version = shell.version(tool)
        shown = ".".join(map(str, version)) if version else "unknown version"
        if tool.minimum and (version is None or not at_least(version, tool.minimum)):
            yield Finding(
                f"tool {tool.name}", "fail", f"{tool.name} {shown} is older than {tool.minimum}", tool.install
            )
        else:
            yield Finding(f"tool {tool.name}", "ok", f"{tool.name} {shown}")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")


def _credentials(spec: Spec, shell: Shell, paths: ClusterPaths, present: set[str]) -> Iterator[Finding]:
    target = spec.cluster.target
    if target == "eks" and "aws" in present:
        proc = shell.run(["aws", "sts", "get-caller-identity", "--output", "json"])
        if proc.returncode == 0:
            yield Finding("credentials", "ok", f"AWS as {json.loads(proc.stdout).get('Arn', '?')}")
        else:
            yield Finding(
                "credentials", "fail", f"AWS: {_first_line(proc.stderr)}", "aws sso login (or set AWS_PROFILE)"
            )
    if target == "gke" and "gcloud" in present:
        proc = shell.run(["gcloud", "auth", "print-access-token", "--quiet"])
        if proc.returncode == 0:
            yield Finding("credentials", "ok", "gcloud has an access token")
        else:
            fix = "gcloud auth login && gcloud auth application-default login"
            yield Finding("credentials", "fail", f"gcloud: {_first_line(proc.stderr)}", fix)
    if target == "kind" and "docker" in present:
        proc = shell.run(["docker", "info", "--format", "{{.ServerVersion}}"])
        level: Level = "ok" if proc.returncode == 0 else "fail"
        yield Finding(
            "container runtime",
            level,
            "docker daemon reachable" if level == "ok" else _first_line(proc.stderr),
            "" if level == "ok" else "start the Docker daemon (or Podman's socket)",
        )


def _state_backend(spec: Spec, shell: Shell, paths: ClusterPaths, present: set[str]) -> Iterator[Finding]:
    if spec.cluster.target not in CLOUD_TARGETS:
        return
    state = spec.cluster.state
    if state.backend == "local":
        yield Finding(
            "state backend",
            "warn",
            "local state file: fine for a trial, not for a team",
            "set cluster.state (s3 or gcs) before others apply this environment",
        )
        return
    if state.backend == "s3" and "aws" in present:
        proc = shell.run(["aws", "s3api", "head-bucket", "--bucket", str(state.bucket)])
    elif state.backend == "gcs" and "gcloud" in present:
        proc = shell.run(["gcloud", "storage", "buckets", "describe", f"gs://{state.bucket}", "--format=json"])
    else:
        return
    if proc.returncode == 0:
        yield Finding("state backend", "ok", f"{state.backend}://{state.bucket} reachable")
    else:
        yield Finding(
            "state backend",
            "fail",
            f"{state.backend}://{state.bucket}: {_first_line(proc.stderr)}",
            "create the state bucket once (docs/cloud.md) or fix cluster.state.bucket",
        )


def _pulumi_stack(spec: Spec, shell: Shell, paths: ClusterPaths, present: set[str]) -> Iterator[Finding]:
    if "pulumi" not in present:
        return
    who = shell.run(["pulumi", "whoami", "--json"], cwd=paths.platform)
    if who.returncode != 0:
        yield Finding("pulumi backend", "fail", _first_line(who.stderr), "pulumi login (or pulumi login s3://…)")
        return
    yield Finding("pulumi backend", "ok", f"logged in to {json.loads(who.stdout).get('url', '?')}")
    stacks = shell.run(["pulumi", "stack", "ls", "--json"], cwd=paths.platform)
    names = (
        {s.get("name", "").rsplit("/", 1)[-1] for s in json.loads(stacks.stdout or "[]")}
        if stacks.returncode == 0
        else set()
    )
    if spec.name in names:
        yield Finding("pulumi stack", "ok", f"stack {spec.name} exists")
    else:
        yield Finding(
            "pulumi stack", "warn", f"stack {spec.name} does not exist yet", f"`cnai up {spec.name}` creates it"
        )


def _gpu_quota(spec: Spec, shell: Shell, paths: ClusterPaths, present: set[str]) -> Iterator[Finding]:
    if spec.cluster.target == "gke" and "gcloud" in present:
        yield from _gke_quota(spec, shell)
    if spec.cluster.target == "eks" and "aws" in present:
        for pool in spec.gpu_pools:
            yield from _eks_quota(spec, shell, pool)


def _gke_quota(spec: Spec, shell: Shell) -> Iterator[Finding]:
    cmd = ["gcloud", "compute", "regions", "describe", str(spec.cluster.region), f"--project={spec.cluster.project}"]
    proc = shell.run([*cmd, "--format=json"])
    if proc.returncode != 0:
        yield Finding(
            "gpu quota", "warn", f"could not read quotas: {_first_line(proc.stderr)}", "check IAM Quotas in the console"
        )
        return
    quotas = {q["metric"]: q["limit"] - q.get("usage", 0) for q in json.loads(proc.stdout).get("quotas", [])}
    for pool in spec.gpu_pools:
        metric = f"{'PREEMPTIBLE_' if pool.spot else ''}{pool.facts.gke_quota_metric}"
        needed = pool.max_nodes * pool.gpus_per_node
        free = quotas.get(metric)
        if free is None:
            yield Finding(f"gpu quota {pool.name}", "warn", f"{metric} not reported in {spec.cluster.region}", "")
        elif free < needed:
            yield Finding(
                f"gpu quota {pool.name}",
                "warn",
                f"{metric}: {free:g} free, pool scales to {needed}",
                f"request {metric} >= {needed} in {spec.cluster.region}",
            )
        else:
            yield Finding(f"gpu quota {pool.name}", "ok", f"{metric}: {free:g} free >= {needed}")


def _eks_quota(spec: Spec, shell: Shell, pool: GpuPool) -> Iterator[Finding]:
    instance = pool.facts.eks_instance_types[pool.gpus_per_node]
    region = ["--region", str(spec.cluster.region), "--output", "json"]
    described = shell.run(["aws", "ec2", "describe-instance-types", "--instance-types", instance, *region])
    code = EC2_QUOTA_CODES[(instance[0], pool.spot)]
    quota = shell.run(
        ["aws", "service-quotas", "get-service-quota", "--service-code", "ec2", "--quota-code", code, *region]
    )
    if described.returncode != 0 or quota.returncode != 0:
        yield Finding(
            f"gpu quota {pool.name}", "warn", "could not read the EC2 vCPU quota", "check Service Quotas > EC2"
        )
        return
    vcpus = json.loads(described.stdout)["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"]
    limit = json.loads(quota.stdout)["Quota"]["Value"]
    needed = vcpus * pool.max_nodes
    level: Level = "ok" if limit >= needed else "warn"
    fix = "" if level == "ok" else f"request quota {code} >= {needed} vCPUs in {spec.cluster.region}"
    yield Finding(
        f"gpu quota {pool.name}", level, f"{instance} x{pool.max_nodes} needs {needed} vCPUs, quota {limit:g}", fix
    )


def _driver_strategy(spec: Spec, shell: Shell, paths: ClusterPaths, present: set[str]) -> Iterator[Finding]:
    """The node image ships a driver exactly when the GPU Operator does not install one."""
    if spec.cluster.target not in CLOUD_TARGETS or not spec.gpu_pools:
        return
    driver = spec.components.gpu_operator.driver
    stack_file = paths.stack_file
    if not stack_file.is_file():
        yield Finding(
            "driver strategy", "ok", f"gpu_operator.driver={driver}; cnai synth derives the node image from it"
        )
        return
    if spec.cluster.target == "eks":
        yield Finding(
            "driver strategy", "ok", f"gpu_operator.driver={driver}; Karpenter's EC2NodeClasses pick the AMI from it"
        )
        return
    stack = json.loads(stack_file.read_text())["resource"]
    pools = stack.get("google_container_node_pool", {}).values()
    accelerators = [a for p in pools for a in p["node_config"].get("guest_accelerator", [])]
    synthesized = {a["gpu_driver_installation_config"]["gpu_driver_version"] for a in accelerators}
    expected = gke_driver_version(spec)
    if synthesized <= {expected}:
        yield Finding("driver strategy", "ok", f"node image ({expected}) and gpu_operator.driver={driver} agree")
    else:
        yield Finding(
            "driver strategy",
            "fail",
            f"synthesized stack has {sorted(synthesized)}, gpu_operator.driver={driver} needs {expected}",
            f"cnai synth {spec.name} (the synthesized stack is stale)",
        )


# Agents that enforce NetworkPolicy, by the DaemonSet their CNI installs. Flannel alone (and any CNI not
# listed) accepts NetworkPolicies and enforces none: every isolation cnai declares would be on paper.
POLICY_ENFORCERS = {
    "calico-node": "Calico",
    "cilium": "Cilium",
    "antrea-agent": "Antrea",
    "kube-router": "kube-router",
    "canal": "Canal (Calico's policy engine)",
}


def _network_policy_enforcement(spec: Spec, shell: Shell, paths: ClusterPaths, present: set[str]) -> Iterator[Finding]:
    """On a cluster cnai did not create, whether its CNI enforces the NetworkPolicies cnai declares (on EKS
    the VPC CNI's policy agent and on GKE Dataplane V2 are switched on by the cloud stacks)."""
    if spec.cluster.target != "existing" or "kubectl" not in present:
        return
    context = ["--context", spec.cluster.kube_context] if spec.cluster.kube_context else []
    proc = shell.run(["kubectl", *context, "get", "daemonsets", "--all-namespaces", "-o", "json"])
    if proc.returncode != 0:
        yield Finding("network policy", "warn", f"cannot list DaemonSets: {_first_line(proc.stderr)}")
        return
    daemonsets = {d["metadata"]["name"] for d in json.loads(proc.stdout).get("items", [])}
    enforcers = sorted(name for ds, name in POLICY_ENFORCERS.items() if ds in daemonsets)
    if enforcers:
        yield Finding("network policy", "ok", f"enforced by {', '.join(enforcers)}")
        return
    yield Finding(
        "network policy",
        "fail",
        f"no NetworkPolicy-enforcing CNI among the DaemonSets ({', '.join(sorted(daemonsets)) or 'none'}): "
        "the policies cnai declares would be accepted and enforced by nothing",
        "install Calico, Cilium or Antrea (or your CNI's policy agent) before `cnai up`",
    )
