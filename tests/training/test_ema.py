"""EMA: shadow <- decay * shadow + (1 - decay) * weights; buffers copied; casts only where needed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from proav_core.training.ema import EMA


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_update_is_the_moving_average_and_copies_buffers():
    net = model()
    ema = EMA(net, decay=0.9)
    before = [p.detach().clone() for p in ema.shadow.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.train()(torch.randn(5, 3))  # BatchNorm's running statistics move
    ema.update(net)
    for s, b, p in zip(ema.shadow.parameters(), before, net.parameters()):
        assert torch.allclose(s, 0.9 * b + 0.1 * p.detach())
        assert not s.requires_grad
    for s, b in zip(ema.shadow.buffers(), net.buffers()):
        assert torch.equal(s, b) and s.data_ptr() != b.data_ptr()
    assert all(p.grad is None for p in net.parameters())  # the live weights are only read


def test_a_model_of_another_dtype_is_averaged_in_the_shadows():
    net = model()
    ema = EMA(net, decay=0.5)
    net = net.to(torch.float64)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(2.0)
    ema.update(net)
    assert all(s.dtype == torch.float32 for s in ema.shadow.parameters())
    first = next(iter(ema.shadow.parameters()))
    assert torch.allclose(first, 0.5 * model()[0].weight.detach() + 1.0)


def test_another_model_is_refused():
    ema = EMA(model(), decay=0.9)
    with pytest.raises(ValueError, match="the model has 2 parameters, its shadow 6"):
        ema.update(nn.Linear(3, 4))
