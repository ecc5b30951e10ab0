"""The smoke job result contract: one JSON line per job (DESIGN.md section 4).

Pod logs, local runs and the report all parse the same line, marked by its `cnai_result` key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "skip"]
MARKER = "cnai_result"


@dataclass
class JobResult:
    name: str
    status: Status
    device: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    ratio_to_peak: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def line(self) -> str:
        return json.dumps({MARKER: 1, **asdict(self)}, sort_keys=True, default=str)


def parse_results(text: str) -> list[JobResult]:
    """Every result line in a log (other lines are ignored)."""
    results = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{") or MARKER not in line:
            continue
        data = json.loads(line)
        data.pop(MARKER)
        results.append(JobResult(**data))
    return results
