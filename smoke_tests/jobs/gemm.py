"""gemm: bf16 (fp32 on CPU) TFLOP/s on large square matrices, as a ratio to the dense datasheet peak."""

from __future__ import annotations

import sys

import torch

from smoke_tests.jobs.common import accelerator_of, device_info, parser, run_job, synchronize, time_it
from smoke_tests.result import JobResult
from smoke_tests.thresholds import gemm_ratios_to_peak, gemm_spread_verdict, gemm_status, gemm_verdict


def device_tflops(device: torch.device, sizes: list[int], repeats: int) -> dict[str, float]:
    """TFLOP/s per matrix size on one device."""
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
    return per_size


def gemm(device: torch.device, sizes: list[int], repeats: int) -> JobResult:
    """Every CUDA device the job sees (the GPUs its pod reserved), one after the other: each as a ratio
    to its own datasheet peak, the slowest judged against the peak, the set against its median; the
    CPU once, where the spread check is skipped."""
    on_gpu = device.type == "cuda"
    devices = [torch.device("cuda", i) for i in range(torch.cuda.device_count())] if on_gpu else [device]
    by_device = [device_tflops(d, sizes, repeats) for d in devices]
    best = [max(sizes_measured.values()) for sizes_measured in by_device]
    peaks = [accelerator_of(d) for d in devices]
    # The node is as fast as its slowest GPU: that one is judged against the peak.
    slowest = best.index(min(best))
    verdict = gemm_verdict(best[slowest], peaks[slowest])
    spread = gemm_spread_verdict(best, on_gpu=on_gpu)
    return JobResult(
        "gemm",
        gemm_status(verdict, spread),
        device_info(device),
        metrics={
            "tflops": best[slowest],
            "tflops_by_device": best,
            "ratio_to_peak_by_device": gemm_ratios_to_peak(best, peaks),
            "tflops_by_size": by_device[slowest],
            "spread": {"status": spread.status, "slowest_to_median": spread.ratio, "reason": spread.reason},
            "dtype": "bfloat16" if on_gpu else "float32",
        },
        expected=verdict.expected | spread.expected,
        ratio_to_peak=verdict.ratio,
        message=f"{verdict.reason}; spread {spread.status}: {spread.reason}",
    )


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    on_gpu = torch.cuda.is_available()
    sizes = [4096, 8192, 16384] if on_gpu and not args.quick else [512, 1024]
    return run_job("gemm", lambda d: gemm(d, sizes, 20 if on_gpu else 3))


if __name__ == "__main__":
    sys.exit(main())
