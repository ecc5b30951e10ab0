"""inventory: the devices visible match the expected count and product; driver/CUDA and sharing state."""

from __future__ import annotations

import sys

import torch

from modules.spec.accelerators import ACCELERATORS
from smoke_tests.jobs.common import device_info, parser, run_job
from smoke_tests.result import JobResult


def inventory(device: torch.device, expected_accelerator: str | None, expected_count: int | None) -> JobResult:
    info = device_info(device)
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if device.type == "cuda" else []
    metrics = {"visible": len(names) if names else 0, "names": names}
    if device.type == "cuda":
        metrics["driver_cuda"] = torch.version.cuda
        metrics["mig_visible"] = any("MIG" in n for n in names)
    expected: dict = {}
    problems = []
    if expected_count is not None:
        expected["count"] = expected_count
        if metrics["visible"] != expected_count:
            problems.append(f"{metrics['visible']} GPU(s) visible, expected {expected_count}")
    if expected_accelerator:
        products = ACCELERATORS[expected_accelerator].product_names
        expected["products"] = list(products)
        wrong = [n for n in names if not any(p.lower() in n.lower() for p in products)]
        if wrong or not names:
            problems.append(f"devices {names or 'none'} are not {expected_accelerator}")
    status = "fail" if problems else "pass"
    message = "; ".join(problems) or ("CPU only: no GPU expected" if not names else f"{len(names)} x {names[0]}")
    return JobResult("inventory", status, info, metrics, expected, message=message)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--expected-accelerator", choices=sorted(ACCELERATORS))
    p.add_argument("--expected-count", type=int)
    args = p.parse_args(argv)
    return run_job("inventory", lambda d: inventory(d, args.expected_accelerator, args.expected_count))


if __name__ == "__main__":
    sys.exit(main())
