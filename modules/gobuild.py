"""Build cnai's Go programs from their pinned Go modules, once per machine: the sim's control plane,
controllers and Pulumi engine, and the local environment's OpenTelemetry Collector.

Go modules of cnai's own link them (sources in modules/go/):
- `kube`: one multi-call binary with etcd, kube-apiserver, kube-controller-manager and kube-scheduler
  (their shared dependency tree is compiled and linked once);
- `controllers`: Kueue, JobSet, kwok and helm from their upstream main packages (Go `tool` directives), plus
  `kwokstages`, which prints kwok's default stages;
- `kserve`: the KServe controller manager, alone because it builds only with the replace directives of
  its own go.mod (k8s.io/* v0.34, controller-runtime v0.22), which Go ignores outside the main module;
- `karpenter`: Karpenter with its kwok cloud provider, and `kwokcrd`, which prints the provider's node
  class CRD; alone because it needs k8s.io/* v0.35 and controller-runtime v0.23 (Kueue: v0.36, v0.24);
- `pulumi`, `pulumi-python`, `pulumi-kubernetes`: the Pulumi engine, language host and provider;
- `otelcol`: the local environment's OpenTelemetry Collector (its modules pinned under
  `local_servers: otel_collector: go_modules:`).

Versions live only in modules/versions.yaml (`sim:` and the collector's `go_modules:`). Each module's
go.mod is generated from it in a work folder (<bin dir>/src/<module>-<digest>): the required modules at
the BOM's versions, for k8s.io/kubernetes a `replace` per staging module (read from its own go.mod) at
the matching k8s.io release, and for entries marked `go_mod: upstream-directives` the upstream go.mod's
replace and exclude lines; `go mod tidy` completes it (go.sum checked against the checksum database
through the proxy). Binaries land in ${CNAI_BIN_DIR:-~/.cache/cnai/bin}/<name>-<version>; GOCACHE and
GOMODCACHE are taken from the environment. A binary already there is not rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modules.errors import CnaiError
from modules.locks import exclusive
from modules.versions import bom

LDFLAGS = "-s -w"
TIME = "/usr/bin/time"


class GoBuildError(CnaiError):
    """A build that cannot run or failed: names the component, its log and the fix."""


def go_bom() -> dict[str, dict[str, str]]:
    """The Go modules cnai builds, by BOM key: the sim's and the local environment's collector."""
    return bom()["sim"] | bom()["local_servers"]["otel_collector"]["go_modules"]


def version(key: str) -> str:
    return str(go_bom()[key]["version"])


def release(key: str) -> str:
    """The release a BOM entry is: its tag where the proxy serves the tag only as a pseudo-version."""
    return str(go_bom()[key].get("tag") or version(key))


@dataclass(frozen=True)
class Artifact:
    """One file cnai needs (the sim's programs, the local collector), built from a Go main package of one
    of cnai's build modules."""

    name: str  # what the runtime asks for: kube, kueue, jobset, kwok, helm, kwok-stages
    module: str  # folder under modules/go
    package: str  # Go package path (or ./dir) of the main package
    versions: tuple[str, ...]  # BOM keys (go_bom) whose versions name the file
    # binary: `go build -o`; stdout: `go run`, its output is the file; copy: the file at `package` inside
    # the module of versions[0] (a script that ships beside a binary)
    output: str = "binary"

    @property
    def filename(self) -> str:
        tag = "-".join(release(k) if i == 0 else f"{k}-{release(k)}" for i, k in enumerate(self.versions))
        suffix = ".yaml" if self.output == "stdout" else ""
        return f"{self.name}-{tag}{suffix}"


def version_stamps(name: str) -> dict[str, str]:
    """`-X` link flags that give a binary the version its release build would report."""
    if name in ("kube", "kubectl"):
        kube = version("kubernetes")
        major, minor = kube.lstrip("v").split(".")[:2]
        fields = {"gitVersion": kube, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
        packages = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        return {f"{p}.{k}": v for p in packages for k, v in fields.items()}
    pulumi_version = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
    provider_version = "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version"
    return {
        "pulumi": {pulumi_version: version("pulumi")},
        "pulumi-language-python": {pulumi_version: version("pulumi-language-python")},
        "pulumi-resource-kubernetes": {provider_version: release("pulumi-kubernetes").lstrip("v")},
        "kueue": {"sigs.k8s.io/kueue/pkg/version.GitVersion": version("kueue")},
        "jobset": {"sigs.k8s.io/jobset/pkg/version.GitVersion": version("jobset")},
        "helm": {"helm.sh/helm/v4/internal/version.version": version("helm")},
        "otelcol": {"main.version": version("otelcol")},
    }.get(name, {})


def ldflags(name: str) -> str:
    return " ".join([LDFLAGS, *(f"-X {k}={v}" for k, v in sorted(version_stamps(name).items()))])


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("kube", "kube", ".", ("kubernetes", "etcd")),
    Artifact("kubectl", "kube", "k8s.io/kubernetes/cmd/kubectl", ("kubernetes",)),  # the lifecycle's on the sim
    Artifact("kueue", "controllers", "sigs.k8s.io/kueue/cmd/kueue", ("kueue",)),
    Artifact("jobset", "controllers", "sigs.k8s.io/jobset", ("jobset",)),
    Artifact("kwok", "controllers", "sigs.k8s.io/kwok/cmd/kwok", ("kwok",)),
    Artifact("kwok-stages", "controllers", "./kwokstages", ("kwok",), output="stdout"),
    Artifact("helm", "controllers", "helm.sh/helm/v4/cmd/helm", ("helm",)),
    Artifact("kserve", "kserve", "github.com/kserve/kserve/cmd/manager", ("kserve",)),
    Artifact("karpenter", "karpenter", "sigs.k8s.io/karpenter/kwok", ("karpenter",)),
    Artifact("karpenter-kwok-crd", "karpenter", "./kwokcrd", ("karpenter",), output="stdout"),
    Artifact("pulumi", "pulumi", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", ("pulumi",)),
    Artifact(
        "pulumi-language-python",
        "pulumi-python",
        "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python",
        ("pulumi-language-python",),
    ),
    Artifact(
        "pulumi-language-python-exec",
        "pulumi-python",
        "python/cmd/pulumi-language-python-exec",
        ("pulumi-language-python",),
        output="copy",
    ),
    Artifact(  # the plugin of Python dynamic providers (modules/k8s/generated.py): runs `python -m pulumi.dynamic`
        "pulumi-resource-pulumi-python",
        "pulumi-python",
        "python/dist/pulumi-resource-pulumi-python",
        ("pulumi-language-python",),
        output="copy",
    ),
    Artifact("pulumi-resource-kubernetes", "pulumi-kubernetes", ".", ("pulumi-kubernetes",)),
    Artifact("otelcol", "otelcol", ".", ("otelcol",)),  # the local environment's (modules/local/otelcol.py)
)
# What the cluster lifecycle runs on the sim, on PATH under these names (modules/sim/pulumi.py): the
# Pulumi CLI and the plugins it looks up, and kubectl.
PULUMI_TOOLS = (
    "kubectl",
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-pulumi-python",
    "pulumi-resource-kubernetes",
)


def artifact(name: str) -> Artifact:
    return next(a for a in ARTIFACTS if a.name == name)


def bin_dir() -> Path:
    return Path(os.environ.get("CNAI_BIN_DIR", Path.home() / ".cache" / "cnai" / "bin"))


def path_of(name: str) -> Path:
    return bin_dir() / artifact(name).filename


def log_of(name: str) -> Path:
    return bin_dir() / "logs" / f"{artifact(name).filename}.log"


def missing() -> list[Artifact]:
    return [a for a in ARTIFACTS if not (bin_dir() / a.filename).is_file()]


# --- checks before building ----------------------------------------------------------------------
GO_FIX = (
    "install Go >= {want} (https://go.dev/dl/, or `apt-get install golang` where it is new enough) and put `go` on PATH"
)


def go_binary() -> str:
    go = shutil.which("go")
    want = version("go")
    if go is None:
        raise GoBuildError(f"Go build: the Go toolchain (`go`) is not on PATH. Fix: {GO_FIX.format(want=want)}.")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", out)
    if found is None or tuple(map(int, found.groups())) < tuple(map(int, want.split(".")[:2])):
        raise GoBuildError(
            f"Go build: `{go}` is {out or 'unknown'}, need go >= {want}. Fix: {GO_FIX.format(want=want)}."
        )
    return go


SOURCES = Path(__file__).with_name("go")


def module_entries(module: str) -> dict[str, dict[str, str]]:
    """BOM entries (key -> entry) that the Go module `module` requires."""
    return {k: e for k, e in go_bom().items() if e.get("build") == module}


def work_dir(module: str) -> Path:
    """Where a build module's generated go.mod lives: keyed by the BOM entries, the packages and the sources."""
    packages = sorted(a.package for a in ARTIFACTS if a.module == module)  # each is a tool directive
    digest = hashlib.sha256(json.dumps([version("go"), module_entries(module), packages], sort_keys=True).encode())
    for source in sorted((SOURCES / module).rglob("*.go")):
        digest.update(source.read_bytes())
    return bin_dir() / "src" / f"{module}-{digest.hexdigest()[:10]}"


def upstream_directives(
    go_mod_json: dict[str, Any], kubernetes_version: str, pinned: frozenset[str] = frozenset()
) -> list[str]:
    """The replace and exclude directives of an upstream module's own go.mod (from `go mod edit -json`).

    Go applies them only in the main module, so a module that builds only with them (KServe pins
    k8s.io/* v0.34 and controller-runtime v0.22) needs them copied into cnai's build module.
    k8s.io/kubernetes replaces its staging modules with ./staging/src/...; outside its repository each
    is the published k8s.io module of the same release (v1.35.4 -> v0.35.4). A module that replaces a
    sibling of its repository with ../<dir> (Pulumi's sdk) gets the sibling the BOM pins (`pinned`)."""
    staging_release = "v0." + kubernetes_version.lstrip("v").split(".", 1)[1]
    lines = []
    for replace in go_mod_json.get("Replace") or []:
        old, new = replace["Old"]["Path"], replace["New"]
        if new["Path"].startswith("../") and old in pinned:
            continue
        if new["Path"].startswith("./"):
            if new["Path"] != f"./staging/src/{old}":
                raise GoBuildError(f"Go build: cannot resolve the local replace {old} => {new['Path']} upstream")
            lines.append(f"replace {old} => {old} {staging_release}")
        else:
            old_version = replace["Old"].get("Version")
            lines.append(f"replace {old}{f' {old_version}' if old_version else ''} => {new['Path']} {new['Version']}")
    lines += [f"exclude {e['Path']} {e['Version']}" for e in go_mod_json.get("Exclude") or []]
    return lines


def go_mod(module: str, directives: list[str], tools: list[str]) -> str:
    entries = module_entries(module).values()
    lines = [
        "// Generated by modules/gobuild.py from modules/versions.yaml. Do not edit.",
        f"module cnai.dev/sim/{module}",
        "",
        f"go {version('go')}",
        "",
    ]
    lines += ["require ("] + [f"\t{e['module']} {e['version']}" for e in entries] + [")", ""]
    if tools:
        lines += ["tool ("] + [f"\t{t}" for t in tools] + [")", ""]
    return "\n".join(lines + directives + [""])


def required_versions(go_mod_text: str) -> dict[str, str]:
    """Module path -> version of every `require` in a go.mod text."""
    return dict(re.findall(r"^(?:require)?\s+(\S+) (v\S+?)(?: // indirect)?$", go_mod_text, flags=re.MULTILINE))


def check_agrees(module: str, go_mod_text: str) -> None:
    """After `go mod tidy`, every BOM module is still at its BOM version (MVS never raised one)."""
    found = required_versions(go_mod_text)
    wrong = [
        f"{e['module']}: BOM {e['version']}, resolved {found.get(e['module'])}"
        for e in module_entries(module).values()
        if found.get(e["module"]) != e["version"]
    ]
    if wrong:
        raise GoBuildError(
            f"Go build: module {module}: the Go module graph moved a pinned version: {'; '.join(wrong)}. "
            "Fix: pin versions in modules/versions.yaml that agree with each other."
        )


def _run(command: list[str], cwd: Path, log_file: Any) -> int:
    log_file.write(f"$ (cd {cwd} && {' '.join(command)})\n")
    log_file.flush()
    return subprocess.run(command, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, check=False).returncode


def _download(go: str, entry: dict[str, str], log_file: Any) -> dict[str, Any]:
    """`go mod download -json` of a BOM entry: where its go.mod and its unpacked files are."""
    spec = f"{entry['module']}@{entry['version']}"
    got = subprocess.run([go, "mod", "download", "-json", spec], capture_output=True, text=True, check=False)
    if got.returncode != 0:
        log_file.write(got.stdout + got.stderr)
        raise GoBuildError(f"Go build: cannot download {spec}: {got.stderr.strip()[-500:]}. Fix: check GOPROXY.")
    return json.loads(got.stdout)


def _upstream_go_mod(go: str, entry: dict[str, str], log_file: Any) -> dict[str, Any]:
    edit = [go, "mod", "edit", "-json", _download(go, entry, log_file)["GoMod"]]
    return json.loads(subprocess.run(edit, capture_output=True, text=True, check=True).stdout)


def write_schema_embeds(upstream_main: Path, work: Path, tag: str) -> None:
    """What a Pulumi provider's release build generates before compiling (its `go generate`): the
    package schema stamped with the release and the Terraform mapping, compact, beside the main package
    that embeds them. The module zip carries the sources (schema.json, terraform-mapping.json) only."""
    schema = json.loads((upstream_main / "schema.json").read_text()) | {"version": tag.lstrip("v")}
    (work / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
    mapping = json.loads((upstream_main / "terraform-mapping.json").read_text())
    (work / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))


def prepare(go: str, module: str, log_file: Any) -> Path:
    """The module's work folder with its generated go.mod and a tidy go.sum (once per BOM change)."""
    work = work_dir(module)
    if (work / "go.sum").is_file():
        return work
    shutil.rmtree(work, ignore_errors=True)
    if (SOURCES / module).is_dir():
        shutil.copytree(SOURCES / module, work)
    work.mkdir(parents=True, exist_ok=True)  # a module of tool directives only has no sources
    directives: list[str] = []
    for key, entry in module_entries(module).items():
        if "embeds" in entry:
            upstream_main = Path(_download(go, entry, log_file)["Dir"]) / entry["embeds"]
            write_schema_embeds(upstream_main, work, release(key))
        if entry.get("go_mod") == "upstream-directives":
            pinned = frozenset(e["module"] for e in module_entries(module).values())
            upstream = _upstream_go_mod(go, entry, log_file)
            directives += upstream_directives(upstream, version("kubernetes"), pinned)
    tools = [a.package for a in ARTIFACTS if a.module == module and a.output != "copy" and a.package[0] != "."]
    (work / "go.mod").write_text(go_mod(module, directives, tools))
    if _run([go, "mod", "tidy"], work, log_file) != 0:
        (work / "go.sum").unlink(missing_ok=True)
        raise GoBuildError(f"Go build: `go mod tidy` failed for module {module}; log: {log_file.name}")
    check_agrees(module, (work / "go.mod").read_text())
    return work


# --- building ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildResult:
    name: str
    path: Path
    seconds: float
    peak_rss_mib: float | None  # of the whole go build (compilers and linker), from /usr/bin/time -v
    packages: int  # packages compiled (not found in GOCACHE)


def _go_command(go: str, a: Artifact, tmp: Path) -> list[str]:
    flags = ["-trimpath", "-buildvcs=false", f"-ldflags={ldflags(a.name)}"]
    if a.output == "stdout":
        return [go, "run", "-v", *flags, a.package]
    return [go, "build", "-v", *flags, "-o", str(tmp), a.package]


def build_one(go: str, a: Artifact, progress: Progress | None = None, task: int | None = None) -> BuildResult:
    target = bin_dir() / a.filename
    log = log_of(a.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    if a.output == "copy":
        return _copy_from_module(go, a, target, log)
    tmp = target.with_name(target.name + ".tmp")
    command = _go_command(go, a, tmp)
    started = time.monotonic()
    with open(log, "w") as log_file:
        work = prepare(go, a.module, log_file)
    listed = subprocess.run([go, "list", "-deps", a.package], cwd=work, capture_output=True, text=True, check=False)
    total = len(listed.stdout.split()) if listed.returncode == 0 else None
    timed = [TIME, "-v", *command] if Path(TIME).is_file() else command
    packages = 0
    with open(log, "a") as log_file:
        log_file.write(f"$ (cd {work} && {' '.join(command)})\n")
        log_file.flush()
        stdout = open(tmp, "w") if a.output == "stdout" else log_file  # noqa: SIM115 - closed below
        try:
            process = subprocess.Popen(
                timed, cwd=work, stdout=stdout, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
            )
            assert process.stderr is not None
            for line in process.stderr:
                log_file.write(line)
                if re.match(r"^[\w.\-]+(/[\w.\-~]+)*$", line.strip()):  # `go build -v` names each package it compiles
                    packages += 1
                    if progress is not None and task is not None:
                        of = f" of {total}" if total else ""
                        progress.update(task, description=f"{a.filename}: {packages}{of} packages compiled")
            code = process.wait()
        finally:
            if stdout is not log_file:
                stdout.close()
    seconds = time.monotonic() - started
    if code != 0:
        tmp.unlink(missing_ok=True)
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-12:])
        raise GoBuildError(
            f"Go build: {a.name} ({a.package} in modules/go/{a.module}) failed after {seconds:.0f}s; "
            f"log: {log}\n{tail}\nFix: read the log; a download error needs the Go module proxy "
            f"(GOPROXY), a compile error a Go toolchain >= {version('go')}; then run the command again "
            "(what was built is kept)."
        )
    tmp.replace(target)
    if a.output == "binary":
        target.chmod(0o755)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text(errors="replace"))
    return BuildResult(a.name, target, seconds, int(rss.group(1)) / 1024 if rss else None, packages)


def _copy_from_module(go: str, a: Artifact, target: Path, log: Path) -> BuildResult:
    started = time.monotonic()
    with open(log, "w") as log_file:
        source = Path(_download(go, go_bom()[a.versions[0]], log_file)["Dir"]) / a.package
    shutil.copyfile(source, target)
    target.chmod(0o755)
    return BuildResult(a.name, target, time.monotonic() - started, None, 0)


def record(result: BuildResult) -> None:
    """Append a build's figures to <bin dir>/builds.json (docs/sim.md and bench read them)."""
    path = bin_dir() / "builds.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[artifact(result.name).filename] = {
        "seconds": round(result.seconds, 1),
        "peak_rss_mib": None if result.peak_rss_mib is None else round(result.peak_rss_mib),
        "packages_compiled": result.packages,
        "gocache": os.environ.get("GOCACHE") or "default",
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def ensure_built(
    console: Console | None = None, only: list[str] | None = None, progress: bool = True
) -> list[BuildResult]:
    """Build every artifact that is missing (or those named in `only`), one after the other so
    the later ones reuse the packages the earlier ones compiled. Returns what was built.
    One build per machine at a time: a second caller (another `cnai up sim`, a test session) waits for
    the first and then finds the binaries there. `progress=False`: no progress line of its own (the
    local install shows one per step)."""
    console = console or Console(stderr=True)
    if not [a for a in missing() if only is None or a.name in only]:
        return []
    go = go_binary()
    with exclusive(bin_dir() / "build.lock"):
        todo = [a for a in missing() if only is None or a.name in only]
        if not progress:
            return [_record_built(build_one(go, a)) for a in todo]
        return [_build_recorded(go, a, console) for a in todo]


def _record_built(result: BuildResult) -> BuildResult:
    record(result)
    return result


def _build_recorded(go: str, a: Artifact, console: Console) -> BuildResult:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{a.filename}: building", total=1)
        try:
            result = build_one(go, a, progress, task)
        except GoBuildError:
            progress.update(task, description=f"[red]{a.filename}: failed (log {log_of(a.name)})")
            raise
        record(result)
        rss = f", peak {result.peak_rss_mib:.0f} MiB" if result.peak_rss_mib else ""
        progress.update(task, completed=1, description=f"[green]{a.filename}: built in {result.seconds:.0f}s{rss}")
    return result
