"""The measuring primitives: call counts, FLOP counts against closed forms, peak memory."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from proav_core.benchmarking.measure import ForwardCounter, count_flops, measure, peak_memory, reset_peak_memory

CPU = torch.device("cpu")


def test_warmup_calls_are_not_timed():
    calls = []
    m = measure(lambda: calls.append(1), CPU, warmup=2, repeats=3, flops=False)
    assert len(calls) == 5 and len(m.seconds) == 3
    assert m.flops is None and m.minimum <= m.median


def test_linear_flops_are_two_m_n_k():
    layer = nn.Linear(16, 8, bias=True)
    x = torch.randn(5, 16)
    assert count_flops(lambda: layer(x)) == 2 * 5 * 16 * 8


def test_fused_cpu_attention_is_counted():
    """The fused CPU kernel is not in FlopCounterMode's registry; counting forces math attention."""
    b, h, n, d = 2, 3, 7, 4
    q, k, v = (torch.randn(b, h, n, d) for _ in range(3))
    assert count_flops(lambda: F.scaled_dot_product_attention(q, k, v)) == 2 * (2 * b * h * n * n * d)


def test_backward_is_counted_too():
    layer = nn.Linear(16, 8, bias=False)
    x = torch.randn(5, 16, requires_grad=True)
    forward = 2 * 5 * 16 * 8
    assert count_flops(lambda: layer(x).sum().backward()) == 3 * forward  # grad input + grad weight


def test_forward_counter_counts_samples():
    layer = nn.Linear(4, 4)
    with ForwardCounter(layer) as seen:
        layer(torch.randn(3, 4))
        layer(torch.randn(5, 4))
    assert (seen.calls, seen.samples) == (2, 8)
    layer(torch.randn(2, 4))  # the hook is gone
    assert seen.samples == 8


def test_generator_samples_are_per_call():
    layer = nn.Linear(4, 4)
    x = torch.randn(6, 4)
    m = measure(lambda: layer(x), CPU, warmup=1, repeats=2, flops=True, watch=layer)
    assert m.extras["generator_samples"] == 6 and m.flops == 2 * 6 * 4 * 4


def test_peak_memory_sees_a_large_allocation():
    reset_peak_memory(CPU)
    before = peak_memory(CPU)
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, written so the pages are resident
    assert peak_memory(CPU) >= before + 60 * 2**20
    del block
