"""`milvus-lite server`, then every collection loaded, then a ready file.

Run with the vector_db virtualenv's Python: `python milvus_loaded.py READY_FILE -- milvus-lite server ...`.
Milvus Lite starts with every collection released: after any restart (a crash, kill -9, `down`/`up`)
queries and searches fail with code 101 until a client calls `load_collection`, while the port is
open. This launcher loads every indexed collection once the server answers, and only then writes its pid
to READY_FILE, which is the local runtime's health check: healthy means queryable. It keeps checking
every few seconds and loads any indexed collection it finds released. It stays the parent of the server,
passes on stop signals and exits with the server's status, so supervisord sees the server's life.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pymilvus import MilvusClient

ANSWER_TIMEOUT_S = 120
WATCH_INTERVAL_S = 2


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def connect(uri: str, server: subprocess.Popen) -> MilvusClient:
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while True:
        try:
            client = MilvusClient(uri=uri, timeout=10)
            client.list_collections()
            return client
        except Exception:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def load_released(client: MilvusClient) -> list[str]:
    """Load every indexed collection that is not loaded; returns their names. Collections without an
    index cannot be loaded by anyone and are left as they are."""
    loaded = []
    for name in client.list_collections():
        try:
            if str(client.get_load_state(name)["state"]).endswith("Loaded") or not client.list_indexes(name):
                continue
            client.load_collection(name)
            loaded.append(name)
        except Exception as exc:
            print(f"cnai: collection {name} not loaded: {exc}", flush=True)
    return loaded


def main(argv: list[str]) -> int:
    ready, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit(__doc__)
    ready_file = Path(ready)
    ready_file.unlink(missing_ok=True)
    server = subprocess.Popen(command)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: server.send_signal(received))
    client = connect(f"http://{option(command, '--host')}:{option(command, '--port')}", server)
    loaded = load_released(client)
    ready_file.write_text(f"{os.getpid()}\n")  # the pid supervisord watches: a stale file is not health
    print(f"cnai: loaded {', '.join(loaded) or 'no collections'}; ready ({ready_file})", flush=True)
    # Keep them loaded: a collection the server lists late after a restart, or one created and indexed
    # but never loaded, becomes queryable within a few seconds.
    while server.poll() is None:
        time.sleep(WATCH_INTERVAL_S)
        with contextlib.suppress(Exception):
            if late := load_released(client):
                print(f"cnai: loaded {', '.join(late)}", flush=True)
    return server.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
