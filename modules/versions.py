"""Typed access to the bill of materials (modules/versions.yaml)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

BOM_PATH = Path(__file__).with_name("versions.yaml")


@cache
def bom() -> dict[str, Any]:
    return yaml.safe_load(BOM_PATH.read_text())


def chart(name: str) -> dict[str, str]:
    """repo, chart and version of a Helm chart."""
    return bom()["helm_charts"][name]


def image(name: str) -> str:
    entry = bom()["images"][name]
    return f"{entry['repository']}:{entry['tag']}"


def binary(name: str) -> str:
    """Version of a binary or package the clusters and nodes run (binaries section)."""
    return str(bom()["binaries"][name]["version"])


def local_server_packages(component: str) -> list[str]:
    return list(bom()["local_servers"][component].get("packages", []))


def pinned_versions() -> dict[str, str]:
    """Every pinned version, keyed by 'section/name', for the no-literal-elsewhere test and docs."""
    data, out = bom(), {}
    for name, entry in data["helm_charts"].items():
        out[f"helm_charts/{name}"] = str(entry["version"])
    for name, entry in data["images"].items():
        out[f"images/{name}"] = str(entry["tag"])
    for name, entry in data["binaries"].items():
        out[f"binaries/{name}"] = str(entry["version"])
    for name, entry in data["local_servers"].items():
        for package in entry.get("packages", []):
            pkg, _, version = package.partition("==")
            out[f"local_servers/{name}/{pkg}"] = version
    return out
