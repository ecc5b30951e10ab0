"""`mlflow server`, with its uvicorn run inside this process instead of a child process.

Run with the mlflow virtualenv's Python: `python mlflow_inprocess.py [mlflow server options]`.
The CLI does all its own work (store initialization, security middleware, env for the app); only
its last step, spawning `python -m uvicorn ...`, happens in-process. That saves a second import of
mlflow (~6 s on a 2-core laptop, the longest step of `cnai up`) and leaves one process to supervise,
so a SIGKILL cannot orphan a uvicorn that keeps the port. If a future MLflow drops the hook, the
server still starts, the usual (slower) way.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import mlflow.server


def _uvicorn_in_process(cmd: list[str], extra_env: dict[str, str] | None = None, **_: Any) -> None:
    os.environ.update(extra_env or {})
    from uvicorn.main import main as uvicorn_main

    uvicorn_args = cmd[cmd.index("uvicorn") + 1 :]
    uvicorn_main(uvicorn_args)


if __name__ == "__main__":
    if hasattr(mlflow.server, "_exec_cmd"):
        mlflow.server._exec_cmd = _uvicorn_in_process
    from mlflow.cli import cli

    cli(["server", *sys.argv[1:]])
