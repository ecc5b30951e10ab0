"""Which project checkout cnai works on: the one it is run in, so a fork's blueprints and
environments are used even when `cnai` was installed from another checkout."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_CHECKOUT = Path(__file__).resolve().parents[1]
MARKERS = ("blueprints", "stacks/platform")


def is_project(folder: Path) -> bool:
    return all((folder / marker).is_dir() for marker in MARKERS)


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (the working directory) holding blueprints/ and
    stacks/platform/; the checkout cnai was installed from when the working directory is in none."""
    here = (start or Path.cwd()).resolve()
    return next((folder for folder in (here, *here.parents) if is_project(folder)), PACKAGE_CHECKOUT)


def environment_home(env: str) -> Path:
    """Where an environment keeps its state (.cnai/<env> in the project; CNAI_HOME overrides): the local
    runtime's servers and the cluster lifecycle's kubeconfig, endpoints and progress alike."""
    default = project_root() / ".cnai" / env
    return (Path(os.environ["CNAI_HOME"]) if "CNAI_HOME" in os.environ else default).resolve()
