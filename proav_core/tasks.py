"""Tasks: which latent planes are given and which are generated (DESIGN "Tasks and peers").

    joint   audio and video generated together (nothing given)
    a2v     audio given, video generated (animate a soundtrack)
    v2a     video given, audio generated (score a silent video)

A task is a choice of planes: any stacker whose latent keeps each plane's values in their
own positions can express it (`modality_masks` finds them by stacking probe planes, or
asks the stacker's own `modality_mask(modality)` when it has one). The probes are public:
`probe_planes(stacker)` (the planes a latent holds) and `plane_value_map(stacker, value)` (a
value per plane laid out as the latent; the generator loop's plane_loss_weights use it too).

Two ways to hold the given planes while sampling (`GivenPlanes.hold`):
- "path" (zero-shot, any jointly trained generator; MM-Diffusion's replacement): at time t
  the given positions hold reflect((1 - t) x0 + t x1), the straight flow path from the
  sample's own noise x0 to the given latent x1, and their velocity is x1 - x0; only the
  other positions are integrated.
- "clean" (a generator trained for the task, UniForm's manner): the given positions hold
  x1 at every t and their velocity is 0.
Either way `GivenPlanes.bind(velocity, x0)` wraps a velocity callable so that any sampler
that integrates it from x0 respects the given planes without knowing about them, and
`paste` writes the given values into the result. A sampler that changes its state other
than by integrating the velocity (adding noise, say) takes a keyword `given` (the sampling
pipeline passes it to samplers whose signature has it) and calls `given.project(x, x0, t)`
after doing so.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from proav_core.errors import UsageError
from proav_core.flow_matching import reflect
from proav_core.interfaces.autoencoder import Modality
from proav_core.interfaces.generation import VelocityFn

MODALITIES: tuple[Modality, ...] = ("video", "audio")
Hold = Literal["path", "clean"]


@dataclass(frozen=True)
class Task:
    """A generation task: the modalities given as input (the rest are generated)."""

    name: str
    given: tuple[Modality, ...]
    summary: str

    @property
    def generated(self) -> tuple[Modality, ...]:
        return tuple(m for m in MODALITIES if m not in self.given)


TASKS: dict[str, Task] = {
    "joint": Task("joint", (), "audio and video generated together"),
    "a2v": Task("a2v", ("audio",), "audio given, video generated"),
    "v2a": Task("v2a", ("video",), "video given, audio generated"),
}
TASK_IDS = {name: i for i, name in enumerate(TASKS)}  # row of a task in a task embedding


def get_task(name: str, option: str = "task") -> Task:
    """The task of that name, or a UsageError naming `option`, the known tasks and the closest."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(name, list(TASKS), n=1, cutoff=0.3)
    hint = f"; closest: {close[0]}" if close else ""
    raise UsageError(f"{option}: unknown task '{name}'; known tasks: {', '.join(TASKS)}{hint}")


def plane_modality(name: str) -> Modality:
    """'video_hw' -> 'video'."""
    return name.split("_", 1)[0]  # type: ignore[return-value]


def probe_planes(stacker: Any) -> dict[str, Tensor]:
    """{plane name: (1, C, a, b) zeros}: the planes a stacker's latent holds, found by unstacking
    a zero latent (any stacker: only latent_shape, stack and unstack are used)."""
    return stacker.unstack(torch.zeros(1, *tuple(stacker.latent_shape)))


def plane_value_map(stacker: Any, value: Callable[[str], float]) -> Tensor:
    """(*latent_shape): value(name) at the latent positions that hold plane `name`'s values, and
    whatever the stacker puts elsewhere (0: padding), by stacking a constant probe per plane."""
    probe = {name: torch.full_like(v, float(value(name))) for name, v in probe_planes(stacker).items()}
    return stacker.stack(probe)[0]


def modality_masks(stacker: Any) -> dict[Modality, Tensor]:
    """{modality: (*latent_shape) bool, True where the stacker keeps that modality's plane values}.

    Uses the stacker's own `modality_mask(m)` when it has one. Otherwise the planes are found
    with a probe: unstack a zero latent to learn the plane names and shapes, stack planes of
    ones for one modality and zeros for the rest, and take the nonzero positions. A stacker
    whose modalities overlap in the latent cannot express a conditional task (UsageError).
    Modalities without planes are left out.
    """
    name = type(stacker).__name__
    if hasattr(stacker, "modality_mask"):
        masks = {m: stacker.modality_mask(m) for m in MODALITIES}
        masks = {m: v.bool().cpu() for m, v in masks.items() if v is not None and bool(v.any())}
    else:
        names = list(probe_planes(stacker))
        masks = {m: plane_value_map(stacker, lambda p, m=m: float(plane_modality(p) == m)) != 0  # (*latent_shape)
                 for m in MODALITIES if any(plane_modality(p) == m for p in names)}
    if len(masks) == 2 and bool((masks["video"] & masks["audio"]).any()):
        raise UsageError(f"stacker {name} mixes video and audio values in the same latent positions, so it "
                         "cannot hold one modality given while generating the other; use stack6 or tokens")
    return masks


def given_mask(stacker: Any, task: Task) -> Tensor:
    """(*latent_shape) bool: the positions of the task's given planes (all False for joint).

    UsageError when the stacker's latent lacks a modality the task needs (e.g. a video-only
    autoencoder cannot do a2v).
    """
    masks = modality_masks(stacker)
    missing = [m for m in MODALITIES if m not in masks and (m in task.given or task.given)]
    if missing:
        raise UsageError(f"--task {task.name} needs both audio and video planes in the latent; this "
                         f"generator's latent has no {' or '.join(missing)} planes (a single-stream autoencoder?); "
                         "use --task joint")
    out = torch.zeros(tuple(stacker.latent_shape), dtype=torch.bool)
    for m in task.given:
        out |= masks[m]
    return out


def fold(x: Tensor, bound: float | None) -> Tensor:
    """Fold x into the box [-b, b] by mirroring at the walls (flow_matching.reflect; identity without a box)."""
    return x if bound is None else reflect(x, bound)


@dataclass
class GivenPlanes:
    """Given latent values and where they sit, and how a sampler holds them.

    latent (B, *latent_shape) in the generator's space (values outside `mask` are ignored);
    mask (*latent_shape) bool; hold "path" (zero-shot) or "clean" (trained); bound: the
    sampler's box half-width (None: no box).
    """

    latent: Tensor
    mask: Tensor
    hold: Hold = "path"
    bound: float | None = None

    def __post_init__(self) -> None:
        if tuple(self.latent.shape[1:]) != tuple(self.mask.shape):
            raise ValueError(f"given latent {tuple(self.latent.shape)} does not fit mask {tuple(self.mask.shape)}")
        self.mask = self.mask.to(self.latent.device, torch.bool)
        if self.bound is not None:
            self.latent = self.latent.clamp(-self.bound, self.bound)

    def start(self, x0: Tensor) -> Tensor:
        """The sampler's starting state (B, *S): the noise folded into the box, given positions
        at their t = 0 value (the noise on the path, the given latent when clean)."""
        x0 = fold(x0, self.bound)
        return x0 if self.hold == "path" else torch.where(self.mask, self.latent.to(x0.dtype), x0)

    def _value(self, start: Tensor, x1: Tensor, t: Tensor | float) -> Tensor:
        if self.hold == "clean":
            return x1
        t = torch.as_tensor(t, dtype=start.dtype, device=start.device)
        tb = t.reshape(-1, *([1] * (start.dim() - 1))) if t.dim() else t  # (B, 1, ...) or scalar
        return fold((1 - tb) * start + tb * x1, self.bound)

    def value(self, x0: Tensor, t: Tensor | float) -> Tensor:
        """(B, *S): what the given positions hold at time t (scalar or (B,)) for a run started at x0."""
        return self._value(fold(x0, self.bound), self.latent.to(x0.dtype), t)

    def project(self, x: Tensor, x0: Tensor, t: Tensor | float) -> Tensor:
        """x with its given positions replaced by their value at time t."""
        return torch.where(self.mask, self.value(x0, t), x)

    def bind(self, velocity: VelocityFn, x0: Tensor) -> VelocityFn:
        """velocity(x, t, cond) -> the same callable with the given planes held (module docstring).

        Works for a doubled batch (classifier-free guidance concatenates [cond, null]): row
        i of a k-times larger batch uses the given values of row i mod B.
        """
        start = self.start(x0)  # (B, *S)
        x1 = self.latent.to(x0.dtype)
        held_velocity = (x1 - start) if self.hold == "path" else torch.zeros_like(x1)  # (B, *S)

        def held(x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
            reps = x.shape[0] // start.shape[0]

            def tile(v: Tensor) -> Tensor:
                return v.repeat(reps, *([1] * (v.dim() - 1)))  # (reps * B, *S)

            inside = torch.where(self.mask, self._value(tile(start), tile(x1), t), x)  # (B', *S)
            v = velocity(inside, t, cond)  # (B', *S)
            return torch.where(self.mask, tile(held_velocity).to(v.dtype), v)

        return held

    def paste(self, x: Tensor) -> Tensor:
        """The final sample with the given positions set exactly to the given latent."""
        return torch.where(self.mask, self.latent.to(x.dtype), x)
