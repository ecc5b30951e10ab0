"""correctness: fp32 matmul against a CPU reference, and repeated bf16 GEMMs that must agree bit for bit."""

from __future__ import annotations

import sys

import torch

from smoke_tests.jobs.common import device_info, parser, run_job
from smoke_tests.result import JobResult


def correctness(device: torch.device, size: int, repeats: int) -> JobResult:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    reference = a.double() @ b.double()
    # TF32 would change fp32 results on Ampere+; the reference check is about fp32 arithmetic.
    torch.backends.cuda.matmul.allow_tf32 = False
    product = (a.to(device) @ b.to(device)).cpu().double()
    max_rel_error = ((product - reference).abs().max() / reference.abs().max()).item()
    # gpu-burn style: the same bf16 GEMM repeated must give identical bits every time.
    a16, b16 = a.to(device, torch.bfloat16), b.to(device, torch.bfloat16)
    first = a16 @ b16
    mismatches = sum(int(not torch.equal(first, a16 @ b16)) for _ in range(repeats))
    ok = max_rel_error < 1e-4 and mismatches == 0
    return JobResult(
        "correctness",
        "pass" if ok else "fail",
        device_info(device),
        metrics={"fp32_max_rel_error": max_rel_error, "bf16_repeat_mismatches": mismatches, "repeats": repeats},
        expected={"fp32_max_rel_error_below": 1e-4, "bf16_repeat_mismatches": 0},
        message="results agree" if ok else "numerical mismatch: suspect the GPU",
    )


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    size, repeats = (512, 10) if args.quick else (4096, 50)
    return run_job("correctness", lambda d: correctness(d, size, repeats))


if __name__ == "__main__":
    sys.exit(main())
