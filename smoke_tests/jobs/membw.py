"""membw: device-to-device copy bandwidth (bytes read + written), against NVIDIA's DCGM floor per SKU."""

from __future__ import annotations

import sys

import torch

from smoke_tests.jobs.common import accelerator_of, device_info, parser, run_job, time_it
from smoke_tests.result import JobResult
from smoke_tests.thresholds import membw_verdict


def membw(device: torch.device, nbytes: int, repeats: int) -> JobResult:
    src = torch.empty(nbytes, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up
    seconds = time_it(lambda: dst.copy_(src), device, repeats)
    gbs = 2 * nbytes / seconds / 1e9
    intact = bool(torch.equal(dst[:: max(1, nbytes // 4096)], src[:: max(1, nbytes // 4096)]))
    verdict = membw_verdict(gbs, accelerator_of(device))
    status = verdict.status if intact else "fail"
    return JobResult(
        "membw",
        status,
        device_info(device),
        metrics={"gbs": round(gbs, 2), "bytes": nbytes, "copy_intact": intact},
        expected=verdict.expected,
        ratio_to_peak=verdict.ratio,
        message=verdict.reason if intact else "copied data differs from the source",
    )


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    on_gpu = torch.cuda.is_available()
    nbytes = (4 << 30) if on_gpu and not args.quick else (128 << 20)
    return run_job("membw", lambda d: membw(d, nbytes, 20 if on_gpu else 5))


if __name__ == "__main__":
    sys.exit(main())
