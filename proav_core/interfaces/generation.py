"""Interfaces of the generation kinds (DESIGN "Data flow" 4-7, paper §3.2).

Flow convention, shared by every objective and sampler: time t runs from 0 (noise) to
1 (data); x_t = (1 - t) * x_0 + t * x_1 on a straight path; a model predicts the velocity
dx/dt = x_1 - x_0. A `VelocityFn` is any callable (x, t, cond) -> velocity with
x (B, *latent_shape), t (B,) float in [0, 1], cond (B, L, D_c).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from proav_core.interfaces.autoencoder import Planes

VelocityFn = Callable[[Tensor, Tensor, Tensor], Tensor]
StepCallback = Callable[[int, float, Tensor], None]  # (step index, t, current x)


@runtime_checkable
class Stacker(Protocol):
    """kind `stacker`: latent planes <-> one latent tensor the generator works on.

    stack: Planes -> (B, *latent_shape); unstack is its exact inverse.
    loss_mask: (*latent_shape) float on the CPU, 1 where the latent holds real plane values
    and 0 on padding, so objectives never learn or score the padding.
    Factory context: plane_shapes: PlaneShapes (3 or 6 planes; stack in PLANE_NAMES order).
    """

    latent_shape: tuple[int, ...]

    def stack(self, planes: Planes) -> Tensor: ...

    def unstack(self, latent: Tensor) -> Planes: ...

    def loss_mask(self) -> Tensor: ...


@runtime_checkable
class Conditioner(Protocol):
    """kind `conditioner`: class labels or prompts -> condition tokens (B, L, dim).

    null(B) is the "no condition" used for classifier-free guidance (learned or fixed).
    An unknown class in a prompt is an error that lists the known classes.
    Factory context: classes: list[str] (the dataset's class names).
    """

    dim: int
    classes: list[str]

    def from_labels(self, labels: Tensor) -> Tensor:
        """(B,) int64 class indices -> (B, L, dim)."""
        ...

    def from_prompts(self, prompts: Sequence[str]) -> Tensor:
        """B prompts ("a video of <class>" or a bare class name) -> (B, L, dim)."""
        ...

    def null(self, batch_size: int) -> Tensor:
        """(B, L, dim) null condition."""
        ...


@runtime_checkable
class Generator(Protocol):
    """kind `generator`: the velocity network.

    forward: x (B, *latent_shape), t (B,) in [0, 1], cond (B, L, D_c) -> (B, *latent_shape).
    Factory context: latent_shape: tuple[int, ...], cond_dim: int, and stacker: the built
    Stacker (optional for stdit, which takes its padding mask from it; required by token
    generators, which take the plane layout from it).
    Optional: describe(cond_tokens=1) -> dict with parameters, tokens_per_sample and
    flops_per_sample (analytic forward FLOPs of one sample), shown by `proav model summary`
    (a generator that freezes part of itself adds trainable_parameters).
    Optional training hooks, each called once when generator training (flow_model) builds
    the FlowModel: prepare_conditioner(conditioner) -> None may load weights into the
    conditioner or freeze it (av_dit: the conditioner saved with its backbone); then
    narrow_loss_mask(mask) -> mask turns the stacker's loss mask (*latent_shape) into the one
    training uses (av_dit's backbone step: the video planes only). A generator may also set
    requires_grad False on parameters it keeps frozen; training optimises only the others.
    Optional: checkpoint_context() -> dict, kept in generator checkpoints as
    "generator_context"; when sampling, the factory is offered `restoring` (that raw checkpoint,
    loaded right after building): a factory that reads weights from other files in training
    (av_dit's backbone, javisdit's prior) skips them and rebuilds from its saved context.
    """

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor: ...


@runtime_checkable
class PriorEstimator(Protocol):
    """kind `prior`: a condition-driven prior that a generator reads through cross-attention
    (JavisDiT's spatio-temporal prior), trained in its own stage (`proav train prior`).

    distribution: cond (B, L, D_c) -> mean, log variance (B, P, D_p) each, P = num_spatial +
    num_temporal prior tokens; sample(cond, generator=None) draws (B, P, D_p) from it,
    mean(cond) is its mean. loss(latent, cond, generator=None): the training loss of real
    pairs, latent (B, *latent_shape) -> scalar. sync_distance(latent, cond) -> (B,): how far
    pairs lie from their condition's prior (lower = more plausible / synchronous).
    Factory context: cond_dim: int and stacker: the built Stacker (the latent layout).
    """

    num_spatial: int
    num_temporal: int
    prior_dim: int

    def distribution(self, cond: Tensor) -> tuple[Tensor, Tensor]: ...

    def sample(self, cond: Tensor, generator: torch.Generator | None = None) -> Tensor: ...

    def mean(self, cond: Tensor) -> Tensor: ...

    def loss(self, latent: Tensor, cond: Tensor, generator: torch.Generator | None = None) -> Tensor: ...

    def sync_distance(self, latent: Tensor, cond: Tensor) -> Tensor: ...


@runtime_checkable
class Objective(Protocol):
    """kind `objective`: the generator's training loss.

    sample_noise: x_0 of the objective's noise distribution, (B, *latent_shape).
    loss: x_1 (B, *latent_shape) data latents -> scalar loss; `mask` (*latent_shape), or
    (B, *latent_shape) per item, weights positions (0 = ignore: the data's values there are
    zeroed before use, so they never reach the loss; a positive weight must not scale the
    data; the loss is the weighted mean over positions; multi-task training masks each item's
    given planes this way, `plane_loss_weights` weights planes); condition dropout for
    classifier-free guidance replaces
    `cond` rows by `null_cond` rows with the objective's configured probability (no
    dropout when null_cond is None). `generator` makes noise, t and dropout reproducible.
    Factory context: latent_bound: float (the autoencoder's box, when there is one).
    """

    def sample_noise(
        self, shape: Sequence[int], generator: torch.Generator | None = None
    ) -> Tensor: ...

    def loss(
        self,
        model: VelocityFn,
        x1: Tensor,
        cond: Tensor,
        null_cond: Tensor | None,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor: ...


@runtime_checkable
class Sampler(Protocol):
    """kind `sampler`: integrate a velocity field from noise (t = 0) to data (t = 1).

    __call__: x0 (B, *latent_shape) noise -> (B, *latent_shape) samples. With
    cfg_scale != 1 and null_cond given, the velocity is
    v_null + cfg_scale * (v_cond - v_null); with cfg_scale == 1 (or null_cond equal to
    cond) it is exactly the conditional prediction. `callback(i, t, x)` runs after every
    step, t being the time reached (the last call has t = 1). Deterministic given x0.
    Conditional tasks (proav_core.tasks): the pipeline hands the sampler a velocity bound by
    GivenPlanes.bind and a start state from GivenPlanes.start, so a sampler that integrates
    the velocity from x0 needs nothing more; one that alters its state otherwise (adds noise)
    takes a keyword `given` (the pipeline passes it to a sampler whose signature has it) and
    calls given.project(x, x0, t) after each such change.
    Factory context: latent_bound: float (the autoencoder's box, when there is one).
    """

    def __call__(
        self,
        velocity: VelocityFn,
        x0: Tensor,
        *,
        cond: Tensor,
        null_cond: Tensor | None = None,
        cfg_scale: float = 1.0,
        callback: StepCallback | None = None,
    ) -> Tensor: ...
