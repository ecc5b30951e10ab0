"""Pass/warn rules of the GPU jobs against the accelerator registry (shared/GPU-FACTS.md)."""

from __future__ import annotations

import pytest

from modules.spec.accelerators import ACCELERATORS, identify
from smoke_tests.thresholds import (
    GEMM_SPREAD_RATIO,
    Verdict,
    allreduce_busbw,
    allreduce_verdict,
    gemm_ratios_to_peak,
    gemm_spread_verdict,
    gemm_status,
    gemm_verdict,
    membw_verdict,
)

H100, H200, A100 = (ACCELERATORS[k] for k in ("nvidia-h100-80gb", "nvidia-h200-141gb", "nvidia-a100-80gb"))


@pytest.mark.parametrize(
    ("tflops", "status"),
    [(794.5, "pass"), (650, "warn"), (593, "fail"), (0, "fail")],  # 794.5: stas00's measured H100 figure
)
def test_gemm_bands_on_h100(tflops, status):
    verdict = gemm_verdict(tflops, H100)
    assert verdict.status == status
    assert verdict.ratio == pytest.approx(tflops / 989)


def test_measured_h200_figure_passes():
    # ~790 TFLOP/s is what an H200 in this workplace measures (device notes).
    assert gemm_verdict(790, H200).status == "pass"


@pytest.mark.parametrize(("gbs", "status"), [(2950, "pass"), (2250, "pass"), (2150, "fail")])
def test_membw_uses_the_dcgm_floor_of_h200(gbs, status):
    # H200 DCGM floor: 0.75 x 2.95 TB/s measured-good = 2.21 TB/s = 0.46 of 4.8 TB/s.
    assert membw_verdict(gbs, H200).status == status


def test_allreduce_floors_need_eight_gpus():
    assert allreduce_verdict(370, 8, H100).status == "pass"
    assert allreduce_verdict(300, 8, H100).status == "fail"
    assert allreduce_verdict(230.8, 8, A100).status == "pass"
    assert allreduce_verdict(10, 2, H100).reason.endswith("correctness only")


def test_busbw_formula_matches_nccl_tests():
    # 1 GiB in 10 ms on 8 ranks: algbw 107.4 GB/s, busbw = algbw x 2 x 7/8.
    assert allreduce_busbw(1 << 30, 0.010, 8) == pytest.approx((1 << 30) / 0.010 / 1e9 * 1.75)


def test_cpu_has_no_thresholds():
    assert gemm_verdict(0.05, None).status == "pass"
    assert gemm_verdict(0.05, None).ratio is None


@pytest.mark.parametrize(
    ("device_name", "key"),
    [
        ("NVIDIA H100 80GB HBM3", "nvidia-h100-80gb"),
        ("NVIDIA H200", "nvidia-h200-141gb"),
        ("NVIDIA L40S", "nvidia-l40s"),
        ("NVIDIA L4", "nvidia-l4"),
        ("NVIDIA A100-SXM4-80GB", "nvidia-a100-80gb"),
        ("NVIDIA A10G", "nvidia-a10g"),
        ("Tesla T4", "nvidia-t4"),
        ("NVIDIA B200", "nvidia-b200"),
    ],
)
def test_device_names_map_to_the_registry(device_name, key):
    assert identify(device_name).key == key


@pytest.mark.parametrize(
    "device_name",
    ["NVIDIA H100 PCIe", "NVIDIA H100 NVL", "NVIDIA A100 80GB PCIe", "NVIDIA L40", "NVIDIA GH200 480GB", "NVIDIA A10"],
)
def test_a_variant_is_not_judged_against_another_parts_peak(device_name):
    """Its own datasheet differs (an H100 PCIe has 2.0 TB/s, not the SXM part's 3.35): no ratio."""
    assert identify(device_name) is None


def test_one_slow_gpu_fails_the_node_even_when_the_best_is_fast():
    """GEMM measures every GPU the job reserved: a data-parallel step runs at the slowest one's pace."""
    healthy = [790.0, 801.0, 795.0, 788.0, 799.0, 792.0, 803.0, 797.0]
    assert gemm_spread_verdict(healthy).status == "pass"
    throttled = [*healthy[:5], 610.0, *healthy[6:]]
    verdict = gemm_spread_verdict(throttled)
    assert verdict.status == "fail" and verdict.reason.startswith("GPU 5 at 0.77")
    assert verdict.expected == {"slowest_to_median": GEMM_SPREAD_RATIO}


@pytest.mark.parametrize(
    ("tflops", "status"),
    [
        ([800.0, 800.0], "pass"),
        ([800.0, 721.0], "pass"),  # median of two is their mean: 721 / 760.5 = 0.948
        ([800.0, 640.0], "fail"),  # 640 / 720 = 0.889
        ([800.0, 800.0, 800.0, 800.0], "pass"),
        ([800.0, 800.0, 800.0, 715.0], "fail"),  # 715 / 800 = 0.894, just under 0.90
        ([800.0, 800.0, 800.0, 725.0], "pass"),  # 725 / 800 = 0.906
    ],
)
def test_spread_band_at_the_ratio(tflops, status):
    assert gemm_spread_verdict(tflops).status == status


def test_spread_is_skipped_with_a_reason_where_nothing_is_compared():
    """CPU only or a single GPU: reported as skipped, never as a pass that measured nothing."""
    cpu = gemm_spread_verdict([0.4], on_gpu=False)
    assert (cpu.status, cpu.ratio, cpu.expected) == ("skip", None, {})
    assert "CPU only" in cpu.reason
    one = gemm_spread_verdict([790.0])
    assert one.status == "skip" and one.ratio is None and "one GPU" in one.reason


def test_a_failed_spread_fails_the_job_and_a_skipped_one_changes_nothing():
    fast = gemm_verdict(790, H100)
    assert gemm_status(fast, gemm_spread_verdict([790.0, 600.0, 795.0, 792.0])) == "fail"
    assert gemm_status(fast, gemm_spread_verdict([790.0, 795.0])) == "pass"
    assert gemm_status(fast, gemm_spread_verdict([790.0])) == "pass"
    assert gemm_status(gemm_verdict(650, H100), gemm_spread_verdict([650.0], on_gpu=True)) == "warn"
    assert gemm_status(Verdict("fail", 0.5, {}, ""), Verdict("skip", None, {}, "")) == "fail"


def test_each_device_is_a_ratio_to_its_own_peak():
    assert gemm_ratios_to_peak([791.2, 593.4], [H100, H100]) == [0.8, 0.6]
    assert gemm_ratios_to_peak([249.6, 0.3], [A100, None]) == [0.8, None]
