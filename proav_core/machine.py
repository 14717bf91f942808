"""What a run's timings were measured on: the device's name (CUDA name or CPU model), cores,
the CPU's vector extension and library versions. The project's machine has not always been the
same host (an AVX2-only AMD EPYC on 2026-12-06; an AVX512-BF16 and AMX CPU before, README's bf16
note), and its step times have varied by up to 1.7x between runs, so `proav demo` and the
benchmarks store this beside the times they report."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (None where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def device_info(device: torch.device) -> dict[str, Any]:
    """{"type", "name", "cpu_count", "cpu_capability", "threads", "torch", "cuda", "platform"}:
    name is the CUDA device's or the CPU's model; cpu_capability the vector extension torch's CPU
    kernels use here (e.g. "AVX2", "AVX512"); threads torch's intra-op threads."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = cpu_model() or platform.processor() or platform.machine()
    return {"type": device.type, "name": name, "cpu_count": os.cpu_count(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "platform": platform.platform()}


def describe(info: dict[str, Any]) -> str:
    """One line for the user: "AMD EPYC (cpu, 2 cores, AVX2, 2 threads), torch 2.14.1"."""
    return (f"{info['name']} ({info['type']}, {info['cpu_count']} cores, {info['cpu_capability']}, "
            f"{info['threads']} threads), torch {info['torch']}")
