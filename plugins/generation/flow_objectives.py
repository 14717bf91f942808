"""Flow-matching objectives: velocity regression on straight noise -> data paths.

`reflected_flow` (Xie et al. 2024, "Reflected flow matching"; paper §4.1): the data lives in
the box [-b, b]^d (the autoencoder's latent_bound), the noise is a normal N(0, s^2)
truncated to the same box, and since the box is convex the straight path
x_t = (1 - t) x0 + t x1 never leaves it; the network regresses the velocity x1 - x0, and the
`reflected_flow` sampler integrates it reflecting at the box walls.
`flow` is plain rectified flow (Gaussian noise, no box), the baseline.

Both: t ~ U[0, 1) (`time_sampling = "uniform"`) or t = sigmoid(n), n ~ N(m, s^2)
("logit_normal", Esser et al. 2024: more training on the middle of the path, where the
velocity is hardest to predict; m = `logit_mean`, s = `logit_std`, 0 and 1 by default; t = 0
is the noise end here, so m < 0 trains more on the noisy part of the path, where the clip's
layout and timing are decided, m > 0 more on the details near the data; on the demo both
shifts of 0.5 lowered the samples' sync, docs/quality.md); loss = mean of the squared
velocity error over the positions, weighted by the mask (one for the whole batch, (*latent),
or per item, (B, *latent); 1 on real values, or a plane's weight from `[train.generator]
plane_loss_weights`); the data's padding (mask = 0) is zeroed before use, so it never
reaches the model or the loss; condition dropout for classifier-free guidance replaces a
sample's condition by the null condition with probability `cond_dropout` (UniForm drops its
text condition with probability 0.5).
The box, the truncated normal and the uniform draws are proav_core.flow_matching's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

import proav_core
from proav_core import ComponentParams
from proav_core.errors import DataError
from proav_core.flow_matching import (  # noqa: F401  (re-exported: they used to live here)
    DEFAULT_BOUND,
    resolve_bound,
    truncated_normal,
)
from proav_core.flow_matching import uniform as _rand
from proav_core.interfaces.generation import VelocityFn

class FlowMatching:
    """Shared loss: straight path, velocity target, masked MSE, condition dropout."""

    def __init__(self, cond_dropout: float, time_sampling: str = "uniform", logit_mean: float = 0.0,
                 logit_std: float = 1.0):
        self.cond_dropout, self.time_sampling = cond_dropout, time_sampling
        self.logit_mean, self.logit_std = logit_mean, logit_std

    def sample_time(self, batch: int, generator: torch.Generator | None, device: torch.device | None) -> Tensor:
        """(B,) times in [0, 1): uniform, or the sigmoid of N(logit_mean, logit_std^2) (logit_normal)."""
        u = _rand((batch,), generator, device)
        if self.time_sampling == "uniform":
            return u
        n = torch.special.ndtri(u.double().clamp(1e-6, 1 - 1e-6))  # (B,) standard normal
        return torch.sigmoid(self.logit_mean + self.logit_std * n).to(u.dtype)

    def noise(self, shape: Sequence[int], generator: torch.Generator | None, device: torch.device | None) -> Tensor:
        """x0 of `shape`, drawn with `generator` (on its device), returned on `device`."""
        raise NotImplementedError

    def sample_noise(self, shape: Sequence[int], generator: torch.Generator | None = None) -> Tensor:
        """(B, *latent) noise on the generator's device (CPU without one)."""
        return self.noise(shape, generator, None)

    def check_data(self, x1: Tensor) -> None:
        """Hook for objectives that constrain the data (the reflected box)."""

    def loss(self, model: VelocityFn, x1: Tensor, cond: Tensor, null_cond: Tensor | None,
             mask: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """x1 (B, *latent) data, cond/null_cond (B, L, Dc), mask (*latent) or (B, *latent) -> scalar loss."""
        b = x1.shape[0]
        if mask is not None:
            mask = mask.to(x1.device, x1.dtype)
            x1 = torch.where(mask > 0, x1, torch.zeros_like(x1))  # padding zeroed; a weight does not scale the data
        self.check_data(x1)
        x0 = self.noise(x1.shape, generator, x1.device).to(x1.dtype)  # (B, *latent)
        t = self.sample_time(b, generator, x1.device).to(x1.dtype)  # (B,)
        if null_cond is not None:  # kept in the graph even at p = 0, so DDP sees the null's parameters used
            drop = (_rand((b,), generator, x1.device) < self.cond_dropout if self.cond_dropout > 0
                    else torch.zeros(b, dtype=torch.bool, device=x1.device))  # (B,)
            cond = torch.where(drop[:, None, None], null_cond.to(cond.dtype), cond)  # (B, L, Dc)
        tb = t.view(b, *([1] * (x1.dim() - 1)))
        xt = (1 - tb) * x0 + tb * x1  # (B, *latent), inside the box for a box-supported x0, x1
        err = (model(xt, t, cond) - (x1 - x0)).float() ** 2  # (B, *latent)
        if mask is None:
            return err.mean()
        per_item = mask.dim() == x1.dim()  # (B, *latent): e.g. a multi-task batch masks each item's given planes
        return (err * mask).sum() / (mask.sum() * (1 if per_item else b)).clamp_min(1)


class FlowParams(ComponentParams):
    noise_std: float = Field(1.0, gt=0, description="standard deviation of the Gaussian noise")
    cond_dropout: float = Field(0.1, ge=0, le=1, description="probability of replacing a sample's condition by "
                                "the null condition (classifier-free guidance; UniForm uses 0.5)")
    time_sampling: Literal["uniform", "logit_normal"] = Field(
        "uniform", description="training times: uniform on [0, 1) or logit_normal (sigmoid of N(logit_mean, "
        "logit_std^2))")
    logit_mean: float = Field(0.0, description="logit_normal: location m of the logit of t (t = 0 is noise: m < 0 "
                              "trains more on the noisy part of the path)")
    logit_std: float = Field(1.0, gt=0, description="logit_normal: scale s of the logit of t")

    @model_validator(mode="after")
    def _logit_needs_logit_normal(self) -> FlowParams:
        if self.time_sampling != "logit_normal" and (self.logit_mean != 0.0 or self.logit_std != 1.0):
            raise ValueError("logit_mean / logit_std shape logit_normal times; set time_sampling = \"logit_normal\" "
                             "or drop them")
        return self


class RectifiedFlow(FlowMatching):
    """Rectified flow: x0 ~ N(0, noise_std^2), no box."""

    def __init__(self, noise_std: float, cond_dropout: float, time_sampling: str = "uniform",
                 latent_bound: float | None = None, logit_mean: float = 0.0, logit_std: float = 1.0):
        super().__init__(cond_dropout, time_sampling, logit_mean, logit_std)  # an autoencoder's box does not apply
        self.noise_std = noise_std

    def noise(self, shape: Sequence[int], generator: torch.Generator | None, device: torch.device | None) -> Tensor:
        where = generator.device if generator is not None else device
        out = torch.randn(tuple(shape), generator=generator, device=where) * self.noise_std
        return out if device is None else out.to(device)


class ReflectedFlowParams(FlowParams):
    bound: float | None = Field(None, gt=0, description="half-width b of the box [-b, b] (None: the "
                                f"autoencoder's latent_bound, or {DEFAULT_BOUND} without one)")


class ReflectedFlow(FlowMatching):
    """Reflected flow matching: x0 ~ N(0, noise_std^2) truncated to [-b, b]; data must lie in the box."""

    def __init__(self, noise_std: float, cond_dropout: float, bound: float | None, time_sampling: str = "uniform",
                 latent_bound: float | None = None, logit_mean: float = 0.0, logit_std: float = 1.0):
        super().__init__(cond_dropout, time_sampling, logit_mean, logit_std)
        self.noise_std, self.bound = noise_std, resolve_bound(bound, latent_bound)
        self._checked = False

    def noise(self, shape: Sequence[int], generator: torch.Generator | None, device: torch.device | None) -> Tensor:
        return truncated_normal(shape, self.bound, self.noise_std, generator, device)

    def check_data(self, x1: Tensor) -> None:
        """The first batch is checked to lie in the box (later ones are not, to avoid a sync per step)."""
        if self._checked:
            return
        self._checked = True
        peak = float(x1.detach().abs().max())
        if peak > self.bound * (1 + 1e-4):
            raise DataError(
                f"reflected flow: data latents reach |x| = {peak:.4g}, outside the box [-{self.bound:g}, "
                f"{self.bound:g}]; the autoencoder must bound its latents (latent_bound) or set objective.bound"
            )


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("objective", "reflected_flow", ReflectedFlow, ReflectedFlowParams,
                 "reflected flow matching: truncated-normal noise in the latent box, straight paths, velocity MSE")
    registry.add("objective", "flow", RectifiedFlow, FlowParams,
                 "rectified flow: Gaussian noise, straight paths, velocity MSE (baseline)")
