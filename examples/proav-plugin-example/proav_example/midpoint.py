"""The sampler `example_midpoint` (kind `sampler`, proav_core.interfaces.Sampler).

Explicit midpoint steps (second order, two velocity evaluations per step) on a linear time
grid, folded back into the latent box like the built-in reflected-flow sampler, with
classifier-free guidance. Everything but the step itself comes from proav_core.flow_matching.
"""

from pydantic import Field

import proav_core
from proav_core.flow_matching import cfg_velocity, reflect, reflect_with_sign, resolve_bound, time_grid


class MidpointParams(proav_core.ComponentParams):
    steps: int = Field(15, ge=1, description="midpoint steps (two velocity evaluations each)")
    bound: float | None = Field(None, gt=0, description="half-width b of the box [-b, b]; "
                                "None: the autoencoder's latent_bound")


class MidpointSampler:
    """Midpoint (RK2) steps reflected into the latent box, with classifier-free guidance."""

    def __init__(self, steps: int, bound: float | None, latent_bound: float | None = None):
        self.steps = steps
        self.bound = resolve_bound(bound, latent_bound)  # factory context: the autoencoder's box

    def __call__(self, velocity, x0, *, cond, null_cond=None, cfg_scale=1.0, callback=None):
        """x0 (B, *latent) noise at t = 0 -> (B, *latent) samples at t = 1."""
        v = cfg_velocity(velocity, cond, null_cond, cfg_scale)  # v(x, t), t (B,)
        ts = time_grid(self.steps, x0.device)
        x = reflect(x0, self.bound)
        for i in range(self.steps):
            h, t = ts[i + 1] - ts[i], ts[i].expand(x.shape[0])
            half, sign = reflect_with_sign(x + 0.5 * h * v(x, t), self.bound)
            x = reflect(x + h * sign * v(half, t + 0.5 * h), self.bound)  # slope back to x's frame
            if callback is not None:
                callback(i, float(ts[i + 1]), x)
        return x
