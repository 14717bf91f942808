"""The share of a device's peak in `proav bench`: the table of known devices, --peak-tflops,
the achieved FLOP/s of a row, and the printed report (fake device names, no GPU needed)."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console

from proav_core.benchmarking.peaks import KNOWN_PEAKS, achieved, find_peak, number_format
from proav_core.benchmarking.report import print_report


@pytest.mark.parametrize(("name", "precision", "tflops"), [
    ("NVIDIA H200", "bf16-mixed", 989.0),
    ("NVIDIA H100 80GB HBM3", "bf16-mixed", 989.0),
    ("NVIDIA H100 PCIe", "16-mixed", 756.0),
    ("NVIDIA A100-SXM4-80GB", "bf16-true", 312.0),
    ("NVIDIA A100-PCIE-40GB", "32-true", 19.5),
    ("Tesla V100-SXM2-32GB", "16-mixed", 125.0),
])
def test_known_devices_are_matched_by_name_and_format(name, precision, tflops):
    peak = find_peak("cuda", name, precision)
    assert peak.tflops == tflops and peak.source.startswith("table: ")


def test_tf32_matmuls_use_the_tf32_figure(monkeypatch):
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "high")
    assert number_format("32-true") == "tf32"
    assert find_peak("cuda", "NVIDIA H200", "32-true").tflops == 494.0


def test_unknown_peaks_say_how_to_give_one():
    cpu = find_peak("cpu", "AMD EPYC 7B13", "32-true")
    assert cpu.tflops is None and "--peak-tflops" in cpu.source
    other = find_peak("cuda", "NVIDIA GeForce GTX 1080", "32-true")
    assert other.tflops is None and "'NVIDIA GeForce GTX 1080' is not in the table" in other.source
    assert all(pattern in other.source for pattern, _ in KNOWN_PEAKS)
    no_bf16 = find_peak("cuda", "Tesla V100-SXM2-16GB", "bf16-mixed")
    assert no_bf16.tflops is None and "V100 has no bf16 figure" in no_bf16.source


def test_a_given_peak_wins_over_the_table():
    peak = find_peak("cuda", "NVIDIA H200", "bf16-mixed", given_tflops=500.0)
    assert (peak.tflops, peak.source) == (500.0, "--peak-tflops")


def test_achieved_flops_prefer_the_analytic_count():
    peak = find_peak("cuda", "NVIDIA H200", "bf16-mixed")
    row = {"seconds": {"median": 0.5}, "analytic_flops": 3e14, "flops": 4e14}
    assert achieved(row, peak) == {"achieved_flops_per_second": 6e14, "peak_share": pytest.approx(6e14 / 989e12)}
    counted = achieved({"seconds": {"median": 2.0}, "analytic_flops": None, "flops": 1e12}, peak)
    assert counted["achieved_flops_per_second"] == 5e11
    unknown = achieved({"seconds": {"median": 2.0}, "analytic_flops": 1e12, "flops": None},
                       find_peak("cpu", "x", "32-true"))
    assert unknown == {"achieved_flops_per_second": 5e11, "peak_share": None}


def test_the_report_prints_the_share_and_where_the_peak_came_from():
    peak = find_peak("cuda", "NVIDIA H200", "bf16-mixed")
    row = {"key": "generator_step", "label": "generator step", "batch": 2,
           "seconds": {"median": 0.5, "min": 0.4, "all": [0.5]}, "flops": 3.1e14, "flops_per_second": 6.2e14,
           "analytic_flops": 3e14, "generator_samples": 2, "peak_memory_bytes": 2**30, "memory_scope": "cuda",
           "note": "flow loss"}
    row |= achieved(row, peak)
    report = {"config": "fake", "device": {"type": "cuda", "name": "NVIDIA H200"}, "precision": "bf16-mixed",
              "threads": 1, "settings": {"batch_size": 2, "sample_batch": 1, "warmup": 1, "repeats": 3},
              "rows": [row], "parameters": {}, "skipped": [], "notes": [], "checks": {},
              "analytic_note": "analytic", "peak": peak.to_dict()}
    out = io.StringIO()
    print_report(report, Console(file=out, width=200))
    text = out.getvalue()
    assert "60.67%" in text  # 6e14 / 989e12
    assert "device peak (bf16): 989 TFLOP/s (table: H200 bf16 dense)" in text
