"""Pass/warn rules of the GPU jobs, derived from the accelerator registry (shared/GPU-FACTS.md).

Pure functions: a measured figure and an accelerator in, a verdict out. On CPU no GPU threshold
applies: jobs report their figures and pass on correctness.
"""

from __future__ import annotations

from dataclasses import dataclass

from modules.spec.accelerators import Accelerator
from smoke_tests.result import Status

GEMM_PASS_RATIO = 0.60  # ~0.75 x the 0.80 that well-tuned PyTorch reaches on A100/H100/H200
GEMM_WARN_RATIO = 0.70
GEMM_SPREAD_RATIO = 0.90  # slowest GPU >= 0.90 x the node median


@dataclass(frozen=True)
class Verdict:
    status: Status
    ratio: float | None
    expected: dict[str, float]
    reason: str


def gemm_verdict(tflops: float, accelerator: Accelerator | None) -> Verdict:
    if accelerator is None:
        return Verdict("pass", None, {}, "no datasheet peak for this device: figure reported only")
    ratio = tflops / accelerator.bf16_tflops
    expected = {"peak_tflops": accelerator.bf16_tflops, "pass_tflops": GEMM_PASS_RATIO * accelerator.bf16_tflops}
    if ratio < GEMM_PASS_RATIO:
        return Verdict("fail", ratio, expected, f"{ratio:.2f} of peak < {GEMM_PASS_RATIO}")
    if ratio < GEMM_WARN_RATIO:
        return Verdict("warn", ratio, expected, f"{ratio:.2f} of peak < {GEMM_WARN_RATIO}")
    return Verdict("pass", ratio, expected, f"{ratio:.2f} of peak")


def gemm_ratios_to_peak(tflops_by_device: list[float], accelerators: list[Accelerator | None]) -> list[float | None]:
    """Each device's figure as a ratio to its own dense datasheet peak (None: no peak for that part)."""
    return [
        None if accelerator is None else round(tflops / accelerator.bf16_tflops, 4)
        for tflops, accelerator in zip(tflops_by_device, accelerators, strict=True)
    ]


def gemm_spread_verdict(tflops_by_device: list[float], on_gpu: bool = True) -> Verdict:
    """The node's GPUs against each other: one slow GPU (thermal throttling, a degraded link, a bad
    slot) drags every data-parallel step down to its pace while the node's best still looks healthy.
    Skipped, saying why, where there is nothing to compare: never a pass that measured nothing."""
    if not on_gpu:
        return Verdict("skip", None, {}, "CPU only: no GPUs to compare")
    if len(tflops_by_device) < 2:
        return Verdict("skip", None, {}, "one GPU visible: no other GPU to compare it with")
    ordered = sorted(tflops_by_device)
    median = (
        ordered[len(ordered) // 2]
        if len(ordered) % 2
        else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    )
    ratio = ordered[0] / median
    expected = {"slowest_to_median": GEMM_SPREAD_RATIO}
    slowest = tflops_by_device.index(ordered[0])
    if ratio < GEMM_SPREAD_RATIO:
        return Verdict(
            "fail", ratio, expected, f"GPU {slowest} at {ratio:.2f} of the node median < {GEMM_SPREAD_RATIO}"
        )
    return Verdict("pass", ratio, expected, f"slowest GPU ({slowest}) at {ratio:.2f} of the node median")


def gemm_status(peak: Verdict, spread: Verdict) -> Status:
    """The job's status: the slowest GPU's verdict against the peak, failed by a failed spread check (a
    skipped spread check changes nothing)."""
    return "fail" if "fail" in (peak.status, spread.status) else peak.status


def membw_verdict(gbs: float, accelerator: Accelerator | None) -> Verdict:
    if accelerator is None:
        return Verdict("pass", None, {}, "no datasheet bandwidth for this device: figure reported only")
    ratio = gbs / accelerator.mem_bw_gbs
    floor = accelerator.mem_bw_floor_ratio
    expected = {"peak_gbs": accelerator.mem_bw_gbs, "pass_gbs": floor * accelerator.mem_bw_gbs}
    status: Status = "pass" if ratio >= floor else "fail"
    return Verdict(status, ratio, expected, f"{ratio:.2f} of spec vs DCGM floor {floor:.2f}")


def allreduce_verdict(busbw_gbs: float, ranks: int, accelerator: Accelerator | None) -> Verdict:
    floor = accelerator.allreduce_busbw_floor_gbs if accelerator else None
    if accelerator is None or floor is None or ranks < 8:
        return Verdict("pass", None, {}, "no calibrated floor for this topology: correctness only")
    expected = {"pass_busbw_gbs": floor}
    # NVLink figures are bidirectional; all-reduce bus bandwidth compares with one direction.
    ratio = busbw_gbs / (accelerator.nvlink_gbs / 2) if accelerator.nvlink_gbs else None
    status: Status = "pass" if busbw_gbs >= floor else "fail"
    return Verdict(status, ratio, expected, f"busbw {busbw_gbs:.0f} GB/s vs floor {floor:.0f}")


def allreduce_busbw(bytes_per_rank: int, seconds: float, ranks: int) -> float:
    """nccl-tests' bus bandwidth in GB/s: algbw x 2(n-1)/n."""
    algbw = bytes_per_rank / seconds / 1e9
    return algbw * 2 * (ranks - 1) / ranks


# --- retrieval (the rag job) -------------------------------------------------------------------
# all-MiniLM-L6-v2 finds the labelled passage in its top 5 for 32 of the 34 questions of
# smoke_tests/data/rag_corpus.json (0.94; top 1: 0.82). The floor leaves room for four more misses
# (numerics of another device or library version can reorder near-ties) and still catches a broken
# model, a wrong metric or a lossy index, each of which drops recall far below it.
RAG_RECALL_AT_5_FLOOR = 0.80


def at_least(figure: str, label: str, value: float, floor: float) -> Verdict:
    """Pass at or above a floor (no peak to be a ratio of): `figure` names it in `expected`, `label` in
    the reason."""
    status: Status = "pass" if value >= floor else "fail"
    relation = ">=" if status == "pass" else "<"
    return Verdict(status, None, {f"{figure}_at_least": floor}, f"{label} {value:.3f} {relation} floor {floor}")


def rag_verdict(recall_at_5: float) -> Verdict:
    return at_least("recall_at_5", "recall@5", recall_at_5, RAG_RECALL_AT_5_FLOOR)


# --- generation (the llm job) ------------------------------------------------------------------
# The smoke chat model, trained 200 steps on smoke_tests/data/llm_chat.json, answers all 16 questions
# exactly when served greedily (as measured on CPU, locally). The floor allows four misses (another
# device's numerics can flip a near-tie late in an answer) and still catches a server that mangles the
# chat template, the tokenizer or the stop token: each of those gets almost every answer wrong.
LLM_ANSWER_ACCURACY_FLOOR = 0.75


def llm_verdict(accuracy: float) -> Verdict:
    return at_least("answer_accuracy", "answers", accuracy, LLM_ANSWER_ACCURACY_FLOOR)
