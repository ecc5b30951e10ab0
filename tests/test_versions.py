"""The bill of materials is the only place a deployed component's version is written."""

from __future__ import annotations

import re
import subprocess
import tomllib

from modules.spec.loader import REPO_ROOT
from modules.versions import bom, pinned_versions

# Rendered from the BOM, so they carry its versions by design (schemas/crds: upstream CRD schemas, verbatim,
# and a sources table scripts/refresh-crds writes from the BOM).
DERIVED = ("modules/versions.yaml", "tests/golden/", "schemas/crds/")


def tracked_text_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [f for f in out if not f.startswith(DERIVED) and f != "pyproject.toml" and (REPO_ROOT / f).is_file()]


def distinctive(version: str) -> bool:
    """Dotted versions only: a bare '580' or '1.35' would match ports and ratios by chance."""
    return version.count(".") >= 2 or version.startswith("v")


def test_no_version_literal_outside_the_bom():
    patterns = {
        key: re.compile(rf"(?<![\w.]){re.escape(v)}(?![\w.])") for key, v in pinned_versions().items() if distinctive(v)
    }
    offenders = []
    for path in tracked_text_files():
        try:
            text = (REPO_ROOT / path).read_text()
        except UnicodeDecodeError:
            continue
        offenders += [f"{path}: {key}" for key, pattern in patterns.items() if pattern.search(text)]
    assert offenders == [], "versions belong in modules/versions.yaml only"


def test_project_pins_agree_with_the_bom():
    """Packages the project uses itself (smoke jobs) and the local servers run must be the same release."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = [*project["dependencies"], *[p for extra in project["optional-dependencies"].values() for p in extra]]
    ours = dict(p.split("==", 1) for p in pins if "==" in p)
    ours["mlflow"] = ours.pop("mlflow-skinny")  # the client half of the same release
    for key, version in pinned_versions().items():
        package = key.rsplit("/", 1)[-1]
        if key.startswith("local_servers/") and package in ours:
            assert ours[package] == version, f"pyproject pins {package}=={ours[package]}, BOM {version}"


def test_every_chart_has_repo_chart_and_version():
    for name, entry in bom()["helm_charts"].items():
        assert {"repo", "chart", "version"} <= set(entry), name
        assert entry["version"] not in ("latest", ""), name


def test_no_floating_image_tags():
    for name, entry in bom()["images"].items():
        assert entry["tag"] not in ("latest", "main", "stable"), name
