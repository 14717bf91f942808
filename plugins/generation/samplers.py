"""Samplers: integrate a learned velocity from noise (t = 0) to data (t = 1), k-diffusion style.

The registry components wrap the public helpers of proav_core.flow_matching (reflect,
time_grid, sample_euler, sample_heun, cfg_velocity; re-exported here so older imports keep
working) in the Sampler protocol: `reflected_flow` (the paper's reflected-flow sampling,
30 linear steps), `flow_euler` (the same without reflection) and `reflected_flow_renoised`
(stochastic: part of the noise drawn anew at each step, sample_renoised).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor

import proav_core
from proav_core import ComponentParams
from proav_core.flow_matching import (  # noqa: F401  (re-exported: the helpers used to live here)
    DEFAULT_BOUND,
    Noise,
    Velocity,
    cfg_velocity,
    reflect,
    reflect_with_sign,
    resolve_bound,
    sample_euler,
    sample_heun,
    sample_renoised,
    time_grid,
    truncated_normal,
)
from proav_core.interfaces.generation import StepCallback, VelocityFn
from proav_core.tasks import GivenPlanes

METHODS = {"euler": sample_euler, "heun": sample_heun}


class ReflectedFlowSamplerParams(ComponentParams):
    steps: int = Field(30, ge=1, description="integration steps on the linear time grid (paper: 30)")
    method: Literal["euler", "heun"] = Field("euler", description="euler (1 evaluation per step) or heun (2)")
    bound: float | None = Field(None, gt=0, description="half-width b of the box [-b, b] (None: the "
                                f"autoencoder's latent_bound, or {DEFAULT_BOUND} without one)")


class ReflectedFlowSampler:
    """Sampler protocol: reflected Euler/Heun with classifier-free guidance."""

    def __init__(self, steps: int, method: str, bound: float | None, latent_bound: float | None = None):
        self.steps, self.method = steps, method
        self.bound: float | None = resolve_bound(bound, latent_bound)

    def __call__(self, velocity: VelocityFn, x0: Tensor, *, cond: Tensor, null_cond: Tensor | None = None,
                 cfg_scale: float = 1.0, callback: StepCallback | None = None) -> Tensor:
        """x0 (B, *latent) noise -> (B, *latent) samples at t = 1."""
        v = cfg_velocity(velocity, cond, null_cond, cfg_scale)
        ts = time_grid(self.steps, x0.device)
        start = x0 if self.bound is None else reflect(x0, self.bound)
        return METHODS[self.method](v, start, ts, bound=self.bound, callback=callback)


class FlowEulerParams(ComponentParams):
    steps: int = Field(30, ge=1, description="Euler steps on the linear time grid")


class FlowEulerSampler(ReflectedFlowSampler):
    """Sampler protocol: plain Euler without reflection (the state may leave any box)."""

    def __init__(self, steps: int, latent_bound: float | None = None):
        super().__init__(steps, "euler", None)
        self.bound = None  # an autoencoder's box, if offered, is ignored


class RenoisedSamplerParams(ComponentParams):
    steps: int = Field(30, ge=1, description="steps on the linear time grid (one velocity evaluation each)")
    eta: float = Field(0.9, ge=0, le=1, description="share of the noise drawn anew at each step (as a "
                       "standard deviation: keep sqrt(1 - eta^2)); 0 = reflected Euler")
    bound: float | None = Field(None, gt=0, description="half-width b of the box [-b, b] (None: the "
                                f"autoencoder's latent_bound, or {DEFAULT_BOUND} without one)")


class RenoisedSampler:
    """Sampler protocol: stochastic reflected sampling (flow_matching.sample_renoised) with CFG.

    The fresh noise is the objective's (offered as `noise` by proav_core.build; without one, a
    unit normal truncated to the box, the reflected_flow objective's default)."""

    def __init__(self, steps: int, eta: float, bound: float | None, latent_bound: float | None = None,
                 noise: Noise | None = None):
        self.steps, self.eta = steps, eta
        self.bound: float = resolve_bound(bound, latent_bound)
        self.noise = noise or (lambda shape, generator, device: truncated_normal(shape, self.bound, 1.0,
                                                                                 generator, device))

    def __call__(self, velocity: VelocityFn, x0: Tensor, *, cond: Tensor, null_cond: Tensor | None = None,
                 cfg_scale: float = 1.0, callback: StepCallback | None = None,
                 given: GivenPlanes | None = None) -> Tensor:
        """x0 (B, *latent) noise -> (B, *latent) samples at t = 1; given planes (a task) are put
        back on their path after each step."""
        v = cfg_velocity(velocity, cond, null_cond, cfg_scale)
        start = reflect(x0, self.bound)
        project = None if given is None else (lambda x, t: given.project(x, x0, t))
        return sample_renoised(v, start, time_grid(self.steps, x0.device), noise=self.noise, eta=self.eta,
                               bound=self.bound, callback=callback, project=project)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("sampler", "reflected_flow", ReflectedFlowSampler, ReflectedFlowSamplerParams,
                 "reflected-flow sampling: Euler/Heun on a linear grid, folded back into the latent box, CFG")
    registry.add("sampler", "flow_euler", FlowEulerSampler, FlowEulerParams,
                 "plain Euler integration of the velocity on a linear grid (no reflection), CFG")
    registry.add("sampler", "reflected_flow_renoised", RenoisedSampler, RenoisedSamplerParams,
                 "stochastic reflected sampling: a share eta of the noise drawn anew each step, CFG")
