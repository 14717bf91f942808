"""Measuring one workload: wall-clock seconds, peak memory, counted FLOPs.

Seconds: `warmup` untimed calls, then `repeats` timed calls; each timed call is bracketed by
a device synchronisation (CUDA kernels run asynchronously, so the clock is read only once the
device is idle).

Peak memory:
- CUDA: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats` at the start of the
  workload (bytes held by tensors; the caching allocator may reserve more).
- CPU: the process's peak resident set size (`resource.getrusage` ru_maxrss): everything the
  process holds (every model built so far, Python, libraries), not the workload alone. On
  Linux the high-water mark is reset at the start of each workload (/proc/self/clear_refs),
  so the figure is the process peak *during* that workload; where the reset is refused it is
  the process peak since start (scope recorded).

FLOPs: one extra call, apart from the timed ones, under `torch.utils.flop_counter.
FlopCounterMode` with scaled-dot-product attention forced to its math backend: the fused
CPU flash-attention kernel is not in the counter's registry, the math backend decomposes into
counted batched matmuls. Counted: matmul, conv and attention kernels, forward and backward.
Not counted: elementwise ops, norms, softmax, reductions, FFTs and linear solves
(Griffin-Lim's STFTs, the inverse mel's least squares).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

MEMORY_CUDA = "cuda max_memory_allocated during the workload"
MEMORY_RSS_ITEM = "process peak RSS during the workload (all models held, not the workload alone)"
MEMORY_RSS_PROCESS = "process peak RSS since start (the high-water mark could not be reset)"


@dataclass
class Measurement:
    """Figures of one workload; `seconds` holds every timed call."""

    seconds: list[float]
    peak_memory_bytes: int
    memory_scope: str
    flops: int | None = None
    extras: dict[str, int] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def minimum(self) -> float:
        return min(self.seconds)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> str:
    """Start a new peak-memory window; returns what the window's figure will mean."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return MEMORY_CUDA
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux: reset the resident-set high-water mark to the current RSS
        return MEMORY_RSS_ITEM
    except OSError:
        return MEMORY_RSS_PROCESS


def peak_memory(device: torch.device) -> int:
    """Bytes: CUDA max allocated, else the process's peak RSS (ru_maxrss is kB on Linux)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def time_calls(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int,
               advance: Callable[..., None] | None = None) -> list[float]:
    """Seconds of each of `repeats` calls of fn, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
        if advance:
            advance()
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
        if advance:
            advance(s=seconds[-1])
    return seconds


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of fn, counted by FlopCounterMode with math-backend attention."""
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def measure(fn: Callable[[], object], device: torch.device, *, warmup: int, repeats: int, flops: bool,
            watch: torch.nn.Module | None = None, advance: Callable[..., None] | None = None) -> Measurement:
    """Time fn, read the peak memory of the timed window, then (optionally) count its FLOPs.

    The counting call comes after the memory reading: math attention materialises the
    attention matrices and would otherwise inflate the peak. With `watch` (the generator),
    extras["generator_samples"] is the number of samples its forward sees per call.
    """
    with ForwardCounter(watch) as seen:
        scope = reset_peak_memory(device)
        seconds = time_calls(fn, device, warmup, repeats, advance)
        out = Measurement(seconds, peak_memory(device), scope)
        if flops:
            out.flops = count_flops(fn)
            if advance:
                advance()
    if watch is not None:
        out.extras["generator_samples"] = seen.samples // (warmup + repeats + int(flops))
    return out


class ForwardCounter:
    """Counts the samples a module's forward sees (sum of the first input's batch size),
    e.g. the generator evaluations of a training step or of a whole sampling run."""

    def __init__(self, module: torch.nn.Module | None):
        self.module, self.samples, self.calls, self._handle = module, 0, 0, None  # None: counts nothing

    def _hook(self, _module: torch.nn.Module, args: tuple) -> None:
        self.calls += 1
        self.samples += int(args[0].shape[0]) if args and hasattr(args[0], "shape") else 0

    def __enter__(self) -> ForwardCounter:
        if self.module is not None:
            self._handle = self.module.register_forward_pre_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
