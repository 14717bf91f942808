"""The experiment config: what a TOML file may hold. Unknown keys are errors everywhere.

Hardware (accelerator, devices, strategy, precision, nodes) is deliberately absent: it comes
from the command line or `fabric run`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from proav_core.config.components import Component
from proav_core.interfaces.data import ClipSpec
from proav_core.validation import NumbersRefuseBooleans


class StrictModel(NumbersRefuseBooleans):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelConfig(StrictModel):
    """`[model.*]`: the networks. Each entry is a component section."""

    autoencoder: Component["autoencoder"] | None = None
    stacker: Component["stacker"] | None = None
    conditioner: Component["conditioner"] | None = None
    generator: Component["generator"] | None = None
    prior: Component["prior"] | None = None  # a prior a generator reads (JavisDiT's HiST-Sypo): `proav train prior`


class OptimConfig(StrictModel):
    lr: float = Field(1e-4, gt=0, description="peak learning rate (paper: 1e-4)")
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0, description="linear LR warm-up steps")
    decay: Literal["none", "cosine"] = Field(
        "none", description="after the warm-up: none (constant LR) or cosine (to 0 at the loop's last step)")
    grad_clip: float | None = Field(1.0, gt=0, description="max global grad norm; unset = off")


class LoopConfig(StrictModel):
    """One training loop (`[train.autoencoder]`, `[train.generator]` or `[train.prior]`)."""

    steps: int = Field(1000, ge=1)
    batch_size: int = Field(32, ge=1, description="per-process batch size")
    optim: OptimConfig = OptimConfig()
    ema_decay: float | None = Field(None, gt=0, lt=1, description="EMA of weights; unset = off")
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    eval_every: int = Field(0, ge=0, description="held-out evaluation every N steps and at the end (autoencoder: "
                            "PSNR of the test split's reconstructions, EMA weights), logged as val/*; 0 = off")
    eval_clips: int = Field(32, ge=1, description="held-out clips per evaluation, spread evenly over the test split")


def check_named_weights(value: dict[str, float], known: tuple[str, ...], kind: str, what: str) -> None:
    """ValueError for a name outside `known` (listing them and the closest) or a weight <= 0."""
    import difflib

    for name, w in value.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.3)
            raise ValueError(f"unknown {kind} '{name}'; known {kind}s: {', '.join(known)}"
                             + (f"; closest: {close[0]}" if close else ""))
        if not w > 0:
            raise ValueError(f"{kind} '{name}' has {what} {w}; give each listed {kind} a positive weight")


class GeneratorLoopConfig(LoopConfig):
    """`[train.generator]`: a loop plus the tasks the generator learns."""

    tasks: dict[str, float] = Field(
        default_factory=lambda: {"joint": 1.0},
        description="task -> probability per item (normalised): joint, a2v, v2a. More than joint trains a "
                    "multi-task generator (given planes enter clean, a learned task embedding joins the condition)")

    given_summary: Literal["none", "plane_stats"] = Field(
        "none",
        description="what of the given side joins the condition of a multi-task generator besides its planes: "
                    "none, or plane_stats (per given plane and channel its max, min, mean and std over positions, "
                    "through a zero-initialised linear layer per modality; proav_core.training.task_mix)")

    plane_loss_weights: dict[str, float] = Field(
        default_factory=dict,
        description="latent plane -> weight of its positions in the loss (relative; unlisted planes 1; the loss "
                    "stays a weighted mean), e.g. {video_hw = 0.4, audio_hw = 0.4} to spend more of it on the "
                    "time planes that carry the events")

    guide_fraction: float | None = Field(
        None, gt=0, lt=1,
        description="also keep the EMA weights after this share of the steps as guide.ckpt beside last.ckpt (e.g. "
                    "0.25: step steps / 4): the weaker model that autoguidance steers away from (`proav sample "
                    "--guide-ckpt`; the demo's samples). Unset = none")

    @property
    def guide_step(self) -> int | None:
        """The step after which guide.ckpt is kept: guide_fraction x steps, rounded, within [1, steps - 1]."""
        if self.guide_fraction is None:
            return None
        return min(self.steps - 1, max(1, round(self.guide_fraction * self.steps)))

    @model_validator(mode="after")
    def _room_for_a_guide(self) -> GeneratorLoopConfig:
        if self.guide_fraction is not None and self.steps < 2:
            raise ValueError(f"guide_fraction needs a step before the last one to keep, and steps is {self.steps} "
                             "(--set train.generator.guide_fraction=default keeps no guide)")
        if self.given_summary != "none" and set(self.tasks) == {"joint"}:
            raise ValueError(f"given_summary = {self.given_summary!r} summarises the given planes of a2v / v2a items; "
                             "add those tasks to train.generator.tasks, or leave given_summary at 'none'")
        return self

    @field_validator("plane_loss_weights")
    @classmethod
    def _known_planes(cls, value: dict[str, float]) -> dict[str, float]:
        # proav_core.interfaces.autoencoder.PLANE_NAMES, without importing torch here
        check_named_weights(value, ("video_hw", "video_tw", "video_th", "audio_hw", "audio_tw", "audio_th"),
                            "plane", "weight")
        return dict(value)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: dict[str, float]) -> dict[str, float]:
        known = ("joint", "a2v", "v2a")  # proav_core.tasks.TASKS, without importing torch here
        check_named_weights(value, known, "task", "probability")
        if not value:
            raise ValueError("name at least one task, e.g. {joint = 1.0}")
        total = sum(value.values())
        return {k: value[k] / total for k in known if k in value}


class TrainConfig(StrictModel):
    autoencoder: LoopConfig = LoopConfig(batch_size=32)
    generator: GeneratorLoopConfig = GeneratorLoopConfig(batch_size=64, ema_decay=0.9999)
    prior: LoopConfig = LoopConfig(batch_size=32)


class ExperimentConfig(StrictModel):
    """A whole experiment. Sections left out are simply not built."""

    name: str = Field("experiment", description="run name, used for output folders")
    seed: int = 0
    output_dir: str = Field("runs", description="where runs write checkpoints and samples")
    clip: ClipSpec = ClipSpec()
    dataset: Component["dataset"] | None = None
    audio_repr: Component["audio_repr"] | None = None
    model: ModelConfig = ModelConfig()
    objective: Component["objective"] | None = None
    sampler: Component["sampler"] | None = None
    metrics: list[Component["metric"]] = Field(default_factory=list)
    train: TrainConfig = TrainConfig()
