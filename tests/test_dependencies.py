"""Every third-party import is declared: nothing may work only because a machine happens to have it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from modules.spec.loader import REPO_ROOT

FIRST_PARTY = {"modules", "smoke_tests", "tests"}
# Run inside a server's own virtualenv, whose packages the bill of materials pins (local_servers).
SERVER_VENV_CODE = "modules/local/launchers/"


def requirement_name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared(*extras: str) -> set[str]:
    """Distribution names pyproject declares directly: the core set plus the given extras (all when none)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    chosen = extras or tuple(project["optional-dependencies"])
    requirements = [*project["dependencies"]]
    for extra in chosen:
        requirements += [r for r in project["optional-dependencies"][extra] if not r.startswith("cnai[")]
    return {requirement_name(r) for r in requirements}


def third_party_imports(files: list[Path]) -> dict[str, set[str]]:
    """Top-level module name -> files importing it (absolute imports outside the stdlib and this project)."""
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    found.setdefault(top, set()).add(str(path))
    return found


def python_files(*folders: str) -> list[Path]:
    files = [p for folder in folders for p in sorted((REPO_ROOT / folder).rglob("*.py"))]
    return [p for p in files if SERVER_VENV_CODE not in str(p.relative_to(REPO_ROOT))]


def undeclared(files: list[Path], allowed: set[str]) -> dict[str, set[str]]:
    providers = packages_distributions()
    return {
        module: users
        for module, users in third_party_imports(files).items()
        if not {d.lower().replace("_", "-") for d in providers.get(module, [module])} & allowed
    }


def test_every_import_is_declared_directly():
    assert undeclared(python_files("modules", "smoke_tests"), declared()) == {}


def test_the_smoke_suite_needs_only_the_smoke_extra():
    """The smoke image installs `.[smoke]` only: the jobs, the checks and the report must import with that
    set, and the checks may use no part of cnai that needs more (the local runtime: psutil, supervisor)."""
    suite = python_files("smoke_tests")
    assert undeclared(suite, declared("smoke")) == {}
    first_party = {
        node.module
        for path in suite
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modules.")
    }
    assert "modules.local.runtime" not in first_party


def test_an_undeclared_import_is_caught(tmp_path: Path):
    """The check can fail: a module importing a package no extra declares is reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("import scipy.sparse\nfrom mlflow.models import ModelSignature\n")
    assert set(undeclared([probe], declared())) == {"scipy"}
