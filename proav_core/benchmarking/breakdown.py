"""Where a benchmarked call spends its time: `proav bench --breakdown`.

One call of a workload runs under torch.profiler; each operator's own time (its self CPU time
on CPU; on CUDA the time of the kernels it launched itself) goes to one category by its name:

- attention: scaled-dot-product attention kernels (forward and backward)
- matmul: mm, addmm, bmm, baddbmm (linear layers, projections, math-backend attention's parts)
- convolution: convolutions and their backward (the MDSA's conv pixel heads)
- normalisation: layer, group, batch and RMS norm
- fft: Fourier transforms (mel spectrograms, the Griffin-Lim waveform of the mel frames)
- compiled: kernels torch.compile generated (the fused elementwise and normalisation ops of a
  compiled module; its matmuls and attention stay in their own categories)
- optimiser and EMA: the optimiser step, fused Adam, the foreach updates of the EMA
- other: everything else (elementwise ops, copies, reshapes, reductions, Python between ops)

A step made of a few large kernels (matmul, convolution, attention) is bound by the device's
arithmetic; one whose "other" share is large, with thousands of operators per call, by the
overhead of launching small ones (what compiling the module, larger batches or fewer, fused
operators address). The profiler adds its own overhead per operator, so `profiled_seconds`
runs above the timed median, most where operators are many and small.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from proav_core.benchmarking.measure import synchronize

CATEGORIES = ("attention", "matmul", "convolution", "normalisation", "fft", "compiled", "optimiser and EMA", "other")
SHORT_NAMES = dict(zip(CATEGORIES, ("attn", "matmul", "conv", "norm", "fft", "compiled", "optim", "other")))  # headers
_PATTERNS = (  # (category, substrings of an operator's name), first match wins
    ("attention", ("scaled_dot_product", "flash_attention", "efficient_attention", "cudnn_attention")),
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm", "aten::matmul")),
    ("convolution", ("convolution", "conv2d", "conv3d", "conv1d", "conv_depthwise")),
    ("normalisation", ("layer_norm", "group_norm", "batch_norm", "rms_norm")),
    ("fft", ("aten::_fft_", "aten::stft", "aten::istft")),
    ("compiled", ("CompiledFxGraph", "Torch-Compiled Region", "CompiledFunction", "triton_", "inductor")),
    ("optimiser and EMA", ("Optimizer.", "fused_adam", "_foreach_")),
)


def category(name: str) -> str:
    """The category of a profiled operator's name (CATEGORIES; "other" when none matches)."""
    for label, patterns in _PATTERNS:
        if any(p in name for p in patterns):
            return label
    return "other"


_WARMED: set[tuple[ProfilerActivity, ...]] = set()


def warm_profiler(activities: list[ProfilerActivity]) -> None:
    """An empty profile, once per process and set of activities: the profiler's set-up would
    otherwise land in the first profiled call (the demo's first profiled autoencoder step took
    0.56 s against 0.25 s timed, the second 0.28 against 0.26)."""
    with profiler_quiet():
        warm = profile(activities=activities)
        warm.start()
        warm.stop()
    _WARMED.add(tuple(activities))


@contextlib.contextmanager
def profiler_quiet() -> Iterator[None]:
    """Around the profiler's start and stop only: its C++ side (Kineto) writes "profiler_start",
    "profiler_stop" and, on a machine without a GPU, a failed GPU count straight to the process's
    stderr; those lines would interleave with the progress bars. Python's own stderr is flushed
    first and restored after, so nothing of the workload's output is lost."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (e.g. some embedded interpreters): let the lines through
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def op_breakdown(fn: Callable[[], object], device: torch.device) -> dict[str, Any]:
    """Profile one call of fn: {"profiled_seconds", "operators" (aten operators run),
    "seconds": {category: s}, "shares": {category: share of the categorised total}}. On CUDA the
    seconds are kernel (device) time, attributed to the operator that launched each kernel."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    if tuple(activities) not in _WARMED:
        warm_profiler(activities)
    prof = profile(activities=activities)
    synchronize(device)
    with profiler_quiet():
        prof.start()
    try:
        start = time.perf_counter()
        fn()
        synchronize(device)
        wall = time.perf_counter() - start
    finally:
        with profiler_quiet():
            prof.stop()
    seconds = dict.fromkeys(CATEGORIES, 0.0)
    operators = 0
    for event in prof.events():
        if event.device_type != torch.autograd.DeviceType.CPU:
            continue  # a kernel: its time is counted with the operator that launched it
        own_us = event.self_device_time_total if device.type == "cuda" else event.self_cpu_time_total
        seconds[category(event.name)] += own_us * 1e-6
        operators += event.name.startswith("aten::")
    total = sum(seconds.values())
    return {"profiled_seconds": round(wall, 6), "operators": operators,
            "seconds": {k: round(v, 6) for k, v in seconds.items()},
            "shares": {k: round(v / total, 4) if total else 0.0 for k, v in seconds.items()}}
