"""`milvus-lite server`, then every collection loaded, then a ready file.

Run with the vector_db virtualenv's Python: `python milvus_loaded.py READY_FILE -- milvus-lite server ...`.
Milvus Lite starts with every collection released: after any restart (a crash, kill -9, `down`/`up`)
queries and searches fail with code 101 until a client calls `load_collection`, while the port is
open. This launcher loads them all once the server answers, and only then writes its pid to READY_FILE,
which is the local runtime's health check: healthy means queryable. It stays the parent of the server,
passes on stop signals and exits with the server's status, so supervisord sees the server's life.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pymilvus import MilvusClient

ANSWER_TIMEOUT_S = 120


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def load_everything(uri: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while True:
        try:
            client = MilvusClient(uri=uri, timeout=5)
            names = client.list_collections()
            break
        except Exception:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    for name in names:
        try:
            client.load_collection(name)
        except Exception as exc:  # e.g. a collection without an index: it cannot be loaded by anyone
            print(f"cnai: collection {name} not loaded: {exc}", flush=True)


def main(argv: list[str]) -> int:
    ready, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit(__doc__)
    ready_file = Path(ready)
    ready_file.unlink(missing_ok=True)
    server = subprocess.Popen(command)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: server.send_signal(received))
    load_everything(f"http://{option(command, '--host')}:{option(command, '--port')}", server)
    ready_file.write_text(f"{os.getpid()}\n")  # the pid supervisord watches: a stale file is not health
    print(f"cnai: collections loaded; ready ({ready_file})", flush=True)
    return server.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
