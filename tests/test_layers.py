"""The layers import one way, and each extra works with only its own dependencies installed.

spec and the other contracts -> the component registry and its builders -> adapters (cloud stacks,
the local runtime, Ansible inventory; the Pulumi program, which reads the cloud stack's outputs) ->
the smoke suite -> the orchestrators (cluster lifecycle, sim) -> the CLI. Every import, at module
level or inside a function, must point to a lower layer or stay in its own package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules.spec.loader import REPO_ROOT

LAYERS: dict[str, int] = {
    "modules.errors": 0,
    "modules.project": 0,
    "modules.locks": 0,
    "modules.versions": 1,
    "modules.spec": 2,
    "modules.endpoints": 2,
    "modules.components": 3,
    "modules.gobuild": 3,  # Go programs built on this machine: the local collector's and the sim's
    "modules.cloud": 4,
    "modules.local": 4,
    "modules.nodes": 4,
    "modules.k8s": 5,  # the platform program deploys onto the cluster the cloud stack made
    "smoke_tests": 5,  # its pipeline check serves a model through the local runtime's helper
    "modules.cluster": 6,
    "modules.sim": 7,
    "modules.bench": 8,
    "modules.cli": 9,
    "stacks": 9,
}
SOURCES = ("modules", "smoke_tests", "stacks")


def package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "modules" else parts[0]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every absolute import of the project's own code in a file, wherever it stands."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module in SOURCES and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]  # from modules import gobuild
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        yield from ((node.lineno, name) for name in names if name.split(".")[0] in SOURCES)


def project_files() -> list[Path]:
    return sorted(p for source in SOURCES for p in (REPO_ROOT / source).rglob("*.py"))


def back_edges() -> list[str]:
    found = []
    for path in project_files():
        relative = path.relative_to(REPO_ROOT)
        own = package(".".join(relative.with_suffix("").parts))
        for line, name in imports(path):
            target = package(name)
            if target != own and LAYERS[target] >= LAYERS[own]:
                found.append(f"{relative}:{line}: {own} (layer {LAYERS[own]}) imports {name} (layer {LAYERS[target]})")
    return found


def test_every_package_has_a_layer():
    packages = {package(".".join(p.relative_to(REPO_ROOT).with_suffix("").parts)) for p in project_files()}
    assert packages - {"modules.__init__"} <= set(LAYERS), sorted(packages - set(LAYERS))


def test_imports_point_down_the_layers():
    assert back_edges() == []


def test_a_back_edge_is_caught(tmp_path, monkeypatch):
    offender = tmp_path / "modules" / "spec" / "offender.py"
    offender.parent.mkdir(parents=True)
    offender.write_text("def f():\n    from modules.k8s.platform import deploy_platform\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    assert back_edges() == ["modules/spec/offender.py:2: modules.spec (layer 2) imports modules.k8s.platform (layer 5)"]


# The import names of what each extra adds (not what another extra's packages pull in too, like urllib3):
# an extra works alone when its code runs with the other extras' packages absent.
EXTRA_PACKAGES = {
    "local": ("supervisor", "boto3", "botocore", "psutil", "cryptography"),
    "smoke": ("torch", "mlflow", "numpy", "boto3", "botocore", "pymilvus", "matplotlib", "pytest", "opentelemetry"),
    "k8s": ("kubernetes", "pulumi", "pulumi_kubernetes", "kubernetes_validate"),
    "cloud": ("cdktn", "cdktn_provider_aws", "cdktn_provider_google", "constructs"),
    "nodes": ("ansible", "ansible_lint", "testinfra"),
}


def run_with_only(extra: str, program: str) -> subprocess.CompletedProcess[str]:
    """Run a program in a fresh interpreter where only the base dependencies and this extra's import."""
    absent = sorted(
        {p for e, pkgs in EXTRA_PACKAGES.items() if e != extra for p in pkgs} - set(EXTRA_PACKAGES.get(extra, ()))
    )
    blocker = textwrap.dedent(
        f"""
        import sys
        class Absent:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {absent!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (not in the {extra} extra)")
        sys.meta_path.insert(0, Absent())
        """
    )
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(program)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_component_registry_imports_with_no_extra():
    result = run_with_only(
        "none",
        """
        import importlib, pkgutil, modules.components as components
        for info in pkgutil.iter_modules(components.__path__):
            if info.name != "fit":  # reads resource quantities with the kubernetes client (k8s extra)
                importlib.import_module(f"modules.components.{info.name}")
        """,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_cloud_extra_alone_synthesizes(tmp_path):
    result = run_with_only(
        "cloud",
        f"""
        from pathlib import Path
        from modules.cloud.stack import synth
        from modules.spec import load_spec
        for env in ("dev", "prod"):
            synth(load_spec(env), Path({str(tmp_path)!r}) / env)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert all((tmp_path / env / "stacks" / env / "cdk.tf.json").is_file() for env in ("dev", "prod"))


def test_the_smoke_extra_alone_imports_the_suite():
    result = run_with_only(
        "smoke",
        """
        import importlib, pkgutil, smoke_tests
        for info in pkgutil.walk_packages(smoke_tests.__path__, "smoke_tests."):
            importlib.import_module(info.name)
        """,
    )
    assert result.returncode == 0, result.stderr
