"""Learning-rate schedule: linear warm-up to the peak LR, then constant or a cosine decay."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def lr_factor(step: int, warmup_steps: int, decay: str = "none", total_steps: int = 0) -> float:
    """The LR multiplier at 0-based `step`: (step + 1) / warmup during the warm-up; then 1
    ("none") or 0.5 (1 + cos(pi p)) with p the share of the post-warm-up steps done ("cosine",
    reaching 0 at `total_steps`)."""
    warmup = max(0, int(warmup_steps))
    if warmup and step < warmup:
        return (step + 1) / warmup
    if decay == "none":
        return 1.0
    if decay != "cosine":
        raise ValueError(f"unknown LR decay {decay!r}; known: none, cosine")
    span = max(1, int(total_steps) - warmup)
    progress = min(1.0, (step - warmup + 1) / span)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_schedule(optimizer: Optimizer, warmup_steps: int, decay: str = "none", total_steps: int = 0) -> LambdaLR:
    """A LambdaLR stepping `lr_factor` once per optimiser step."""
    return LambdaLR(optimizer, lambda step: lr_factor(step, warmup_steps, decay, total_steps))
