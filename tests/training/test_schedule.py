"""The LR schedule: linear warm-up, then constant or a cosine decay reaching 0 at the last step."""

from __future__ import annotations

import math

import pytest
import torch

from proav_core.training.schedule import lr_factor, warmup_schedule


def test_warmup_then_constant():
    assert [lr_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_factor(0, 0) == 1.0


def test_cosine_decays_from_one_to_zero_after_the_warmup():
    total, warm = 12, 2
    f = [lr_factor(s, warm, "cosine", total) for s in range(total)]
    assert f[:2] == [0.5, 1.0]
    assert f[-1] == pytest.approx(0.0, abs=1e-12)  # the last step's update runs at LR 0 after stepping
    assert all(a >= b for a, b in zip(f[1:], f[2:]))  # never rises after the warm-up
    mid = warm + (total - warm) // 2 - 1  # half of the decay done
    assert f[mid] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_unknown_decay_is_an_error():
    with pytest.raises(ValueError, match="none, cosine"):
        lr_factor(5, 0, "linear", 10)


def test_scheduler_applies_the_factor_per_optimiser_step():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = warmup_schedule(opt, 1, "cosine", 5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([2.0 * lr_factor(s, 1, "cosine", 5) for s in range(5)])
