"""Peak FLOP/s of known devices, and the share of it a benchmark achieved.

Figures are the vendors' dense peaks (no structured sparsity) in TFLOP/s per device, for the
number format the matmuls run in: bf16 / fp16 on tensor cores, tf32 when float32 matmuls may
use TensorFloat-32 (torch.set_float32_matmul_precision "high" or "medium"), plain fp32
otherwise. A device is matched by the first pattern found in torch.cuda.get_device_name()
(case-insensitive), so specific names come before general ones. CPUs have no entry: their
peak depends on the core count, clock and vector units; give it with --peak-tflops.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# (name pattern, {format: dense TFLOP/s}); first match wins
KNOWN_PEAKS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H200", {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0}),  # SXM
    ("H100 NVL", {"bf16": 835.0, "fp16": 835.0, "tf32": 418.0, "fp32": 60.0}),
    ("H100 PCIe", {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.0}),
    ("H100", {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0}),  # SXM ("H100 80GB HBM3")
    ("A100", {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}),  # SXM4 and PCIe
    ("L40S", {"bf16": 362.0, "fp16": 362.0, "tf32": 183.0, "fp32": 91.6}),
    ("RTX 4090", {"bf16": 165.2, "fp16": 165.2, "tf32": 82.6, "fp32": 82.6}),  # fp32 accumulate
    ("V100", {"fp16": 125.0, "fp32": 15.7}),
)


@dataclass(frozen=True)
class Peak:
    """A device's peak for one number format; tflops None when unknown (`source` says why)."""

    tflops: float | None
    number_format: str
    source: str

    def to_dict(self) -> dict[str, object]:
        return {"tflops": self.tflops, "number_format": self.number_format, "source": self.source}


def number_format(precision: str) -> str:
    """Fabric precision -> the matmuls' format: bf16, fp16, tf32 or fp32."""
    if precision.startswith("bf16"):
        return "bf16"
    if precision.startswith("16"):
        return "fp16"
    if precision.startswith("64"):
        return "fp64"
    return "fp32" if torch.get_float32_matmul_precision() == "highest" else "tf32"


def find_peak(device_type: str, device_name: str, precision: str, given_tflops: float | None = None) -> Peak:
    """The peak to compare with: `given_tflops` (--peak-tflops) when set, else the KNOWN_PEAKS
    entry of a CUDA device's name and the precision's format, else unknown (tflops None)."""
    fmt = number_format(precision)
    if given_tflops is not None:
        return Peak(float(given_tflops), fmt, "--peak-tflops")
    if device_type != "cuda":
        return Peak(None, fmt, f"unknown for {device_type} devices; give it with --peak-tflops")
    for pattern, figures in KNOWN_PEAKS:
        if pattern.lower() in device_name.lower():
            if fmt in figures:
                return Peak(figures[fmt], fmt, f"table: {pattern} {fmt} dense")
            return Peak(None, fmt, f"{pattern} has no {fmt} figure in the table; give it with --peak-tflops")
    known = ", ".join(p for p, _ in KNOWN_PEAKS)
    return Peak(None, fmt, f"'{device_name}' is not in the table ({known}); give it with --peak-tflops")


def achieved(row: dict[str, object], peak: Peak) -> dict[str, float | None]:
    """A report row's achieved FLOP/s (the generator's analytic FLOPs over the median seconds;
    the counted FLOPs where no analytic figure exists) and its share of the peak."""
    seconds = row["seconds"]["median"]  # type: ignore[index]
    flops = row.get("analytic_flops") or row.get("flops")
    per_second = None if not flops or not seconds else float(flops) / float(seconds)
    share = None if per_second is None or peak.tflops is None else per_second / (peak.tflops * 1e12)
    return {"achieved_flops_per_second": per_second, "peak_share": share}
