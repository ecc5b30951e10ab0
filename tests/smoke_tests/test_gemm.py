"""The gemm job measures every CUDA device it sees and reports the spread check: on CPU for real, on a
node of GPUs with the measurement and device lookups replaced (no GPU needed)."""

from __future__ import annotations

import pytest
import torch

from modules.spec.accelerators import ACCELERATORS
from smoke_tests.jobs import gemm

H100 = ACCELERATORS["nvidia-h100-80gb"]


def test_on_cpu_the_spread_check_is_skipped_with_its_reason():
    result = gemm.gemm(torch.device("cpu"), [64], 1)
    assert result.status == "pass"  # figure only: no datasheet peak for a CPU
    assert result.metrics["spread"] == {
        "status": "skip",
        "slowest_to_median": None,
        "reason": "CPU only: no GPUs to compare",
    }
    assert result.metrics["ratio_to_peak_by_device"] == [None]
    assert "spread skip: CPU only" in result.message


def fake_node(monkeypatch: pytest.MonkeyPatch, tflops_by_device: list[float]) -> list[int]:
    """A node of H100s whose GEMM figures are given; returns the device indexes measured."""
    measured: list[int] = []

    def device_tflops(device: torch.device, sizes: list[int], repeats: int) -> dict[str, float]:
        measured.append(device.index)
        return {str(n): tflops_by_device[device.index] * n / max(sizes) for n in sizes}

    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(tflops_by_device))
    monkeypatch.setattr(gemm, "device_tflops", device_tflops)
    monkeypatch.setattr(gemm, "accelerator_of", lambda device: H100)
    monkeypatch.setattr(gemm, "device_info", lambda device: {"type": "cuda", "name": "NVIDIA H100 80GB HBM3"})
    return measured


def test_every_visible_gpu_is_measured_and_one_slow_gpu_fails_the_node(monkeypatch):
    figures = [790.0, 801.0, 795.0, 610.0, 799.0, 792.0, 803.0, 797.0]
    measured = fake_node(monkeypatch, figures)
    result = gemm.gemm(torch.device("cuda"), [4096, 8192], 20)
    assert measured == list(range(8))
    assert result.metrics["tflops_by_device"] == figures
    assert result.metrics["ratio_to_peak_by_device"] == [round(f / H100.bf16_tflops, 4) for f in figures]
    assert result.metrics["tflops"] == 610.0 and result.ratio_to_peak == pytest.approx(610 / 989)
    assert result.metrics["spread"]["status"] == "fail"
    assert result.status == "fail"  # 0.62 of peak alone would only warn
    assert "GPU 3 at 0.77 of the node median" in result.message


def test_even_gpus_pass_the_spread_check(monkeypatch):
    fake_node(monkeypatch, [790.0, 801.0, 795.0, 788.0])
    result = gemm.gemm(torch.device("cuda"), [4096], 20)
    assert result.status == "pass"
    assert result.metrics["spread"]["status"] == "pass"
    assert result.metrics["spread"]["slowest_to_median"] == pytest.approx(788 / 792.5)
    assert result.expected["slowest_to_median"] == 0.90


def test_a_single_gpu_is_judged_against_the_peak_and_the_spread_is_skipped(monkeypatch):
    fake_node(monkeypatch, [790.0])
    result = gemm.gemm(torch.device("cuda"), [4096], 20)
    assert result.status == "pass"
    assert result.metrics["spread"]["status"] == "skip" and "one GPU" in result.metrics["spread"]["reason"]
