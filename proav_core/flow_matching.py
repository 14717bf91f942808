"""What flow-matching objectives and samplers share; public API for plugin authors.

The built-in `reflected_flow` and `flow_euler` samplers and the `reflected_flow` and `flow`
objectives (proav_plugins.generation) are made of these functions; a third-party sampler or
objective imports them from here instead of copying them.

Conventions (proav_core.interfaces.generation): time t runs from 0 (noise) to 1 (data); a
`Velocity` is a callable v(x, t) with x (B, *S) and t (B,) -> (B, *S), the condition already
bound (see `cfg_velocity`); a `VelocityFn` is the generator's v(x, t, cond).

    DEFAULT_BOUND, resolve_bound(bound, latent_bound)  the box [-b, b] a component works in
    reflect(x, b), reflect_with_sign(x, b)             fold x back into the box
    truncated_normal(shape, b, std, generator)         N(0, std^2) restricted to the box
    uniform(shape, generator, device)                   U[0, 1) drawn on the generator's device
    time_grid(steps)                                    linear grid 0 = t_0 < ... < t_steps = 1
    sample_euler(v, x0, ts, bound=, callback=)          Euler steps, reflecting after each with a bound
    sample_heun(v, x0, ts, bound=, callback=)           Heun (trapezoid) steps, idem
    sample_renoised(v, x0, ts, noise=, eta=, ...)       Euler steps that swap part of the noise for
                                                        fresh noise after each (stochastic sampling)
    row_generators(x0)                                  one RNG per sample, seeded from its noise
    cfg_velocity(v, cond, null_cond, scale)             classifier-free guidance -> Velocity
    autoguided(v, guide, guide_cond, scale)             autoguidance by a weaker model -> VelocityFn

Reflection (Xie et al. 2024): a step that crosses a wall continues mirrored, i.e. the state
is folded back and the crossing velocity components change sign. The fold is the map
x -> b - |((x + b) mod 4b) - 2b|; a coordinate folded an odd number of times has its
velocity flipped, which Heun's corrector uses to bring the predictor's slope back to the
frame of the step's start.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from proav_core.interfaces.generation import StepCallback, VelocityFn

Velocity = Callable[[Tensor, Tensor], Tensor]  # (x (B, *S), t (B,)) -> (B, *S)

DEFAULT_BOUND = 1.0  # the box when neither `bound` nor an autoencoder's latent_bound is given


def resolve_bound(bound: float | None, latent_bound: float | None) -> float:
    """The box half-width: the component's own `bound` parameter wins, then the autoencoder's
    `latent_bound` (offered as factory context), then DEFAULT_BOUND."""
    if bound is not None:
        return float(bound)
    return float(latent_bound) if latent_bound is not None else DEFAULT_BOUND


def uniform(shape: Sequence[int], generator: torch.Generator | None, device: torch.device | None = None) -> Tensor:
    """U[0, 1) of `shape`, drawn on the generator's device (or `device`), returned on `device`."""
    where = generator.device if generator is not None else device
    out = torch.rand(tuple(shape), generator=generator, device=where)
    return out if device is None else out.to(device)


def truncated_normal(shape: Sequence[int], bound: float, std: float = 1.0,
                     generator: torch.Generator | None = None, device: torch.device | None = None) -> Tensor:
    """N(0, std^2) conditioned on [-bound, bound], by inverse CDF (float64 internally)."""
    u = uniform(shape, generator, device).double()
    lo = torch.special.ndtr(torch.tensor(-bound / std, dtype=torch.float64, device=u.device))
    z = torch.special.ndtri(lo + u * (1 - 2 * lo)) * std  # lo + u (hi - lo), hi = 1 - lo
    return z.clamp(-bound, bound).float()


def reflect_with_sign(x: Tensor, bound: float) -> tuple[Tensor, Tensor]:
    """Fold x into [-b, b]; also return +1/-1 per element (-1 where folded an odd number of times)."""
    period = 4 * bound
    y = torch.remainder(x + bound, period)  # [0, 4b)
    inside = x.abs() <= bound
    flipped = (y > 2 * bound) & ~inside
    folded = torch.where(inside, x, torch.where(flipped, period - y, y) - bound)  # [-b, b], exact inside
    return folded, 1 - 2 * flipped.to(x.dtype)


def reflect(x: Tensor, bound: float) -> Tensor:
    """Fold x back into the box [-b, b] (mirror at the walls, repeatedly if needed)."""
    return reflect_with_sign(x, bound)[0]


def time_grid(steps: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """(steps + 1,) linear time grid from 0 (noise) to 1 (data)."""
    return torch.linspace(0.0, 1.0, steps + 1, device=device, dtype=dtype)


def _t(t: Tensor, x: Tensor) -> Tensor:
    return t.to(x.dtype).expand(x.shape[0])  # (B,)


def sample_euler(velocity: Velocity, x0: Tensor, ts: Tensor, *, bound: float | None = None,
                 callback: StepCallback | None = None) -> Tensor:
    """Euler over the grid `ts`; with `bound`, the state is reflected into [-b, b] after each step.

    callback(i, t_{i+1}, x_{i+1}) runs after step i. Returns x at ts[-1].
    """
    x = x0
    for i in range(len(ts) - 1):
        h = ts[i + 1] - ts[i]
        x = x + h * velocity(x, _t(ts[i], x))  # (B, *S)
        if bound is not None:
            x = reflect(x, bound)
        if callback is not None:
            callback(i, float(ts[i + 1]), x)
    return x


def sample_heun(velocity: Velocity, x0: Tensor, ts: Tensor, *, bound: float | None = None,
                callback: StepCallback | None = None) -> Tensor:
    """Heun (predictor-corrector) over `ts`, two velocity evaluations per step.

    With `bound`: the predictor is folded into the box before its slope is evaluated, that
    slope's components are flipped where the fold mirrored them, and the corrected state is
    folded again.
    """
    x = x0
    for i in range(len(ts) - 1):
        h = ts[i + 1] - ts[i]
        v0 = velocity(x, _t(ts[i], x))  # (B, *S)
        pred = x + h * v0
        sign = None
        if bound is not None:
            pred, sign = reflect_with_sign(pred, bound)
        v1 = velocity(pred, _t(ts[i + 1], x))  # (B, *S)
        if sign is not None:
            v1 = v1 * sign  # back to the unfolded frame of x
        x = x + h * 0.5 * (v0 + v1)
        if bound is not None:
            x = reflect(x, bound)
        if callback is not None:
            callback(i, float(ts[i + 1]), x)
    return x


Noise = Callable[..., Tensor]  # noise(shape, generator, device) -> (*shape), like an objective's `noise`


def row_generators(x0: Tensor) -> list[torch.Generator]:
    """One CPU generator per sample of x0 (B, *S), seeded from the bytes of that sample's noise:
    a stochastic sampler's fresh noise is then fixed by the starting noise alone, whatever the
    batch the sample is integrated in."""
    rows = x0.detach().float().cpu().reshape(x0.shape[0], -1)
    return [torch.Generator().manual_seed(int(hashlib.sha256(r.numpy().tobytes()).hexdigest()[:15], 16))
            for r in rows]


def sample_renoised(velocity: Velocity, x0: Tensor, ts: Tensor, *, noise: Noise, eta: float,
                    bound: float | None = None, callback: StepCallback | None = None,
                    project: Callable[[Tensor, float], Tensor] | None = None) -> Tensor:
    """Stochastic sampling on straight paths (the flow analogue of DDIM with eta > 0).

    At each step, from x at time t the velocity gives the path's two ends, the data
    x1 = x + (1 - t) v and the noise x0 = x - t v; a share of the noise is swapped for a fresh
    draw, x0' = sqrt(1 - eta^2) x0 + eta * noise, and the state moves to the next time s on the
    path between them, x = (1 - s) x0' + s x1 (then folded into the box with `bound`). eta = 0
    is Euler exactly; eta = 1 draws the whole noise anew each step. The fresh noise lets the
    sampler leave the averaged in-between states an imperfect velocity leads an ODE into (a
    sample showing two modes at once), at the price of one noise draw per step.

    noise(shape, generator, device) draws noise like the objective's x0 (e.g. its `noise`
    method); each sample draws its own from row_generators(x0), so results do not depend on the
    batch. project(x, s), if given, runs after each step (given planes of a task put back).
    callback(i, t_{i+1}, x_{i+1}) runs after step i. Returns x at ts[-1].
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    gens = row_generators(x0) if eta > 0 else []
    keep = (1.0 - eta**2) ** 0.5
    x = x0
    for i in range(len(ts) - 1):
        t, s = float(ts[i]), float(ts[i + 1])
        v = velocity(x, _t(ts[i], x))  # (B, *S)
        data, start = x + (1 - t) * v, x - t * v  # (B, *S) each: the path's ends as seen from x
        if eta > 0 and i < len(ts) - 2:  # the last step lands on the data: no noise left to swap
            fresh = torch.cat([noise((1, *x.shape[1:]), g, x.device).to(x.dtype) for g in gens])  # (B, *S)
            start = keep * start + eta * fresh
        x = (1 - s) * start + s * data  # (B, *S)
        if bound is not None:
            x = reflect(x, bound)
        if project is not None:
            x = project(x, s)
        if callback is not None:
            callback(i, s, x)
    return x


def cfg_velocity(velocity: VelocityFn, cond: Tensor, null_cond: Tensor | None, scale: float) -> Velocity:
    """Bind the condition: v(x, t) = v_null + scale * (v_cond - v_null).

    cond, null_cond (B, L, D_c). scale == 1, no null condition, or a null equal to the
    condition -> exactly the conditional prediction (one evaluation). Otherwise one batched
    evaluation of both (2B rows) when their shapes match, two evaluations when they do not.
    """
    if null_cond is None or scale == 1.0 or (null_cond.shape == cond.shape and torch.equal(null_cond, cond)):
        return lambda x, t: velocity(x, t, cond)

    def guided(x: Tensor, t: Tensor) -> Tensor:
        if null_cond.shape == cond.shape:
            both = velocity(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, null_cond]))  # (2B, *S)
            v_cond, v_null = both.chunk(2)
        else:
            v_cond, v_null = velocity(x, t, cond), velocity(x, t, null_cond)
        return v_null + scale * (v_cond - v_null)

    return guided


def autoguided(velocity: VelocityFn, guide: VelocityFn, guide_cond: Tensor, scale: float) -> VelocityFn:
    """Autoguidance (Karras et al. 2024): v(x, t, c) = v_g + scale * (v(x, t, c) - v_g), where
    v_g = guide(x, t, guide_cond) is a weaker model of the same task (e.g. an early checkpoint of
    the same training run) under a condition in its own embedding, guide_cond (B, L, D_c): the
    same prompt (Karras et al.'s choice), or its null condition, which adds classifier-free
    guidance's pull toward the prompt at no extra cost (SamplingPipeline's guide_condition).

    Where classifier-free guidance steers away from the unconditional prediction (and so narrows
    the samples), this steers away from the errors the weaker model makes more strongly: samples
    in between modes, such as two event patterns drawn at once. scale == 1 -> `velocity` itself.
    The result is a VelocityFn for a sampler run with cfg_scale 1 (its cond: B rows, as guide_cond).
    """
    if scale == 1.0:
        return velocity

    def guided(x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        v_guide = guide(x, t, guide_cond)  # (B, *S)
        return v_guide + scale * (velocity(x, t, cond) - v_guide)

    return guided


__all__ = [
    "DEFAULT_BOUND",
    "Noise",
    "Velocity",
    "autoguided",
    "cfg_velocity",
    "reflect",
    "reflect_with_sign",
    "resolve_bound",
    "row_generators",
    "sample_renoised",
    "sample_euler",
    "sample_heun",
    "time_grid",
    "truncated_normal",
    "uniform",
]
