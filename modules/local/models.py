"""Putting a registered model behind the local model server: its repository folder and its load API.

Kept apart from the runtime (supervisord, psutil) so the smoke suite can use it with the `smoke` extra only.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from modules.errors import CnaiError
from modules.local.mlserver import model_settings


def serve_model(model_repository: Path, inference_url: str, name: str, model_uri: str) -> None:
    """Put a model in MLServer's repository (so it loads at every start) and load it now."""
    folder = model_repository / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model-settings.json").write_text(json.dumps(model_settings(name, model_uri), indent=2))
    response = httpx.post(f"{inference_url}/v2/repository/models/{name}/load", timeout=300)
    if response.status_code != 200:
        raise CnaiError(f"model server refused to load {model_uri} as {name}: {response.text[:500]}")
