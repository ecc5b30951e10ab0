"""Start a local server after killing what is left of its previous life; then become the server.

Servers such as `mlflow server` run their real work in a child (uvicorn). When the parent dies by
SIGKILL the child is orphaned, keeps the port, and answers health checks for a server that no longer
exists. Every process of a server inherits CNAI_SERVER_ID; before (re)starting, this launcher kills
every process still carrying the same ID, then execs the server so supervisord supervises it directly.

Usage: python -m modules.local.reaper SERVER_ID -- COMMAND [ARGS...]
"""

from __future__ import annotations

import os
import sys

import psutil

MARKER = "CNAI_SERVER_ID"


def processes_of(server_id: str, exclude: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        if process.pid == exclude:
            continue
        try:
            if process.environ().get(MARKER) == server_id:
                found.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def reap(server_id: str, exclude: int | None = None) -> int:
    """SIGKILL every process carrying server_id; returns how many there were."""
    stale = processes_of(server_id, exclude if exclude is not None else os.getpid())
    for process in stale:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(stale, timeout=5)
    return len(stale)


def main(argv: list[str]) -> None:
    server_id, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit(__doc__)
    stale = reap(server_id)
    if stale:
        print(f"cnai: killed {stale} orphaned process(es) of {server_id}", flush=True)
    os.environ[MARKER] = server_id
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
