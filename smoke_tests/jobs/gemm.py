"""gemm: bf16 (fp32 on CPU) TFLOP/s on large square matrices, as a ratio to the dense datasheet peak."""

from __future__ import annotations

import sys

import torch

from smoke_tests.jobs.common import accelerator_of, device_info, parser, run_job, synchronize, time_it
from smoke_tests.result import JobResult
from smoke_tests.thresholds import gemm_verdict


def gemm(device: torch.device, sizes: list[int], repeats: int) -> JobResult:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    per_size = {}
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        for _ in range(3):  # warm-up: kernel selection, clocks
            a @ b
        synchronize(device)
        seconds = time_it(lambda a=a, b=b: a @ b, device, repeats)
        per_size[str(n)] = round(2 * n**3 / seconds / 1e12, 4)
    best = max(per_size.values())
    verdict = gemm_verdict(best, accelerator_of(device))
    return JobResult(
        "gemm",
        verdict.status,
        device_info(device),
        metrics={"tflops": best, "tflops_by_size": per_size, "dtype": str(dtype).removeprefix("torch.")},
        expected=verdict.expected,
        ratio_to_peak=verdict.ratio,
        message=verdict.reason,
    )


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    on_gpu = torch.cuda.is_available()
    sizes = [4096, 8192, 16384] if on_gpu and not args.quick else [512, 1024]
    return run_job("gemm", lambda d: gemm(d, sizes, 20 if on_gpu else 3))


if __name__ == "__main__":
    sys.exit(main())
