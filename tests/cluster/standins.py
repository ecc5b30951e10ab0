"""Recording stand-ins for the CLIs `cnai up/down/doctor` drive (pulumi, tofu, kind, kubectl, aws, gcloud).

None of them can run on these machines (no cloud, no Kubernetes API server, no Pulumi engine). Each
stand-in is a small executable that appends {tool, argv, cwd, env} to a JSON-lines log and answers
with the canned response whose key is the longest part of the command line, or fails where told to.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("pulumi", "tofu", "kubectl", "kind", "docker", "aws", "gcloud", "gke-gcloud-auth-plugin")
WATCHED_ENV = ("KUBECONFIG", "CNAI_CLOUD_DIR", "TF_IN_AUTOMATION", "TF_INPUT", "PULUMI_SKIP_UPDATE_CHECK")

SCRIPT = """#!{python}
import json, os, sys
tool, argv = {tool!r}, sys.argv[1:]
command = " ".join([tool, *argv])
with open(os.environ["CNAI_STANDIN_LOG"], "a") as log:
    env = {{k: os.environ.get(k) for k in {watched!r}}}
    log.write(json.dumps({{"tool": tool, "argv": argv, "cwd": os.getcwd(), "env": env}}) + "\\n")
fail = os.environ.get("CNAI_STANDIN_FAIL")
if fail and fail in command:
    sys.stderr.write(f"stand-in: {{command}} failed on purpose\\n")
    sys.exit(3)
responses = json.load(open(os.environ["CNAI_STANDIN_RESPONSES"]))
matches = [p for p in responses if p in command]
answer = responses[max(matches, key=len)] if matches else {{}}
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""


@dataclass
class StandIns:
    root: Path
    responses: dict[str, dict] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def log(self) -> Path:
        return self.root / "calls.jsonl"

    def install(self, tools: tuple[str, ...] = TOOLS) -> None:
        self.bin.mkdir(parents=True, exist_ok=True)
        for tool in tools:
            path = self.bin / tool
            path.write_text(SCRIPT.format(python=sys.executable, tool=tool, watched=WATCHED_ENV))
            path.chmod(path.stat().st_mode | stat.S_IEXEC)
        self.save()

    def remove(self, tool: str) -> None:
        (self.bin / tool).unlink()

    def answer(self, prefix: str, stdout: str = "", rc: int = 0, stderr: str = "") -> None:
        self.responses[prefix] = {"stdout": stdout, "rc": rc, "stderr": stderr}
        self.save()

    def save(self) -> None:
        (self.root / "responses.json").write_text(json.dumps(self.responses))

    def environment(self, only_standins: bool = False) -> dict[str, str]:
        """PATH with the stand-ins first; node stays reachable for cdktn unless only_standins."""
        path = str(self.bin) if only_standins else f"{self.bin}{os.pathsep}{os.environ['PATH']}"
        return {
            "PATH": path,
            "CNAI_STANDIN_LOG": str(self.log),
            "CNAI_STANDIN_RESPONSES": str(self.root / "responses.json"),
        }

    def calls(self) -> list[dict]:
        if not self.log.is_file():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        return [" ".join([c["tool"], *c["argv"]]) for c in self.calls()]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)
