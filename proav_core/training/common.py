"""What both training loops share: run folders, the finite-loss guard, the step loop's
bookkeeping (progress, CSV log, periodic atomic checkpoints, the loss curve)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric

from proav_core.config import ExperimentConfig, config_to_toml
from proav_core.errors import CheckpointError, ProavError, UsageError
from proav_core.output_folders import check_output_folder
from proav_core.progress import progress_bar
from proav_core.training.checkpoint import save_checkpoint, seed_step
from proav_core.training.run_log import MetricsLog, plot_curves

CHECKPOINT = "last.ckpt"
RESUME_ONLY_KEYS = ("optimizer", "scheduler", "rng")  # what a snapshot for inference leaves out
GUIDE_CHECKPOINT = "guide.ckpt"  # [train.generator] guide_fraction: an early state kept for autoguidance


class TrainingError(ProavError):
    """Training cannot go on (a non-finite loss, ...)."""


FUSED_ADAM_DEVICES = ("cpu", "cuda")  # where torch's fused Adam kernel runs


def adam(params: Any, optim: Any, device: torch.device, *, decoupled: bool) -> torch.optim.Optimizer:
    """Adam (`decoupled=False`) or AdamW (`True`) with an [train.*.optim] section's lr, betas and
    weight decay; on CPU and CUDA the fused kernel (one kernel over all parameters: for the tiny
    MDSA on 2 CPU cores the optimiser step takes 9 ms instead of 32 ms, 6 % of a training step).
    The state dict is the same either way, so checkpoints of either kind resume with the other."""
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    return kind(params, lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay,
                fused=True if device.type in FUSED_ADAM_DEVICES else None)


def run_dir(cfg: ExperimentConfig) -> Path:
    """Where a config's run writes: <output_dir>/<name>."""
    return Path(cfg.output_dir) / cfg.name


def prepare_stage_dir(directory: Path, resume: bool, overwrite: bool) -> Path | None:
    """Check the stage folder against --resume/--overwrite before anything is written; returns
    the checkpoint to resume."""
    ckpt = directory / CHECKPOINT
    check_output_folder(directory, "output_dir", "set output_dir (or name) to lead to a folder")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other: --resume continues the run in "
                         f"{directory}, --overwrite starts a new one in its place; pass one")
    if resume:
        if not ckpt.is_file():
            raise CheckpointError(f"checkpoint not found: {ckpt} (nothing to resume: run without --resume "
                                  "to start this stage)")
        return ckpt
    if ckpt.exists() and not overwrite:
        raise UsageError(
            f"{directory} already holds a checkpoint ({ckpt.name}); pass --resume to continue that "
            "run or --overwrite to start a new one in its place"
        )
    return None


def check_finite(step: int, terms: dict[str, torch.Tensor | float]) -> None:
    """Stop the run when a loss term is NaN or infinite, naming the step and the term."""
    for name, value in terms.items():
        v = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(v):
            raise TrainingError(
                f"loss term '{name}' is {v} at step {step}; the run stopped (the last good "
                "checkpoint is kept). Lower the learning rate, check the data, or enable grad_clip."
            )


def write_resolved_config(fabric: Fabric, directory: Path, cfg: ExperimentConfig) -> None:
    if fabric.is_global_zero:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.toml").write_text(config_to_toml(cfg))
    fabric.barrier()


def optimizer_step(fabric: Fabric, loss: torch.Tensor, module: torch.nn.Module, optimizer: Any, scheduler: Any,
                   grad_clip: float | None) -> None:
    """backward, clip the gradient norm (when grad_clip), step, zero the gradients, step the schedule."""
    fabric.backward(loss)
    if grad_clip:
        fabric.clip_gradients(module, optimizer, max_norm=grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    scheduler.step()


def run_steps(
    fabric: Fabric,
    *,
    directory: Path,
    description: str,
    start: int,
    steps: int,
    seed: int,
    log_every: int,
    checkpoint_every: int,
    train_step: Callable[[int], dict[str, float]],
    checkpoint_state: Callable[[int], dict[str, Any]],
    curve_panels: tuple[tuple[str, ...], ...] = (("loss",),),
    evaluate: Callable[[int], dict[str, float]] | None = None,
    eval_every: int = 0,
    snapshots: Mapping[int, Path] | None = None,
) -> MetricsLog:
    """Call train_step(step) for step in [start, steps): reseeded per step, logged, checkpointed.

    train_step returns the figures to log (floats). Every logged row also holds `train_s`, the
    seconds spent in train_step since step 0 (evaluation, logging and checkpoints excluded;
    carried over a resume), so curves can be drawn against training time. With `evaluate`,
    evaluate(steps_done) runs every `eval_every` steps and at the end, and its figures join
    that step's row. A checkpoint is written every `checkpoint_every` steps and at the end;
    the loss curve PNG at the end, one panel per group of `curve_panels` (whose figures the
    progress bar also shows; with several processes a logged row's training figures are their
    mean over the processes, each computed on its share of the batch, and the bar shows that
    mean, updated at the logged steps: bar_figures). `snapshots` {step: path}: the weights (and
    what inference reads: config, components, step, ...) also written to that path once that
    many steps are done, and kept (e.g. the guide of autoguidance); without RESUME_ONLY_KEYS, as
    they are kept for sampling, not for resuming (half the file with Adam's two moments).
    """
    curve_keys = [k for panel in curve_panels for k in panel]
    zero = fabric.is_global_zero
    log = MetricsLog(directory, resume_step=start, enabled=zero)
    trained = float(log.rows[-1].get("train_s") or 0.0) if log.rows else 0.0
    if start >= steps:
        fabric.print(f"{description}: the checkpoint is at step {start} of {steps} already, nothing to train (raise "
                     "the config's steps to train further)")
    elif start:
        fabric.print(f"{description}: resuming at step {start} of {steps} ({directory / CHECKPOINT})")
    saved = start  # the step the stage's last.ckpt holds
    with progress_bar(steps, description, disable=not zero) as advance, _say_where_interrupted(
            fabric, description, directory, lambda: saved, checkpoint_every):
        advance(start)
        for step in range(start, steps):
            seed_step(seed, step, fabric.global_rank)
            began = time.perf_counter()
            figures = train_step(step)
            trained += time.perf_counter() - began
            done = step + 1
            evaluated = evaluate is not None and eval_every > 0 and (done % eval_every == 0 or done == steps)
            logged = evaluated or done % log_every == 0 or done == steps
            if logged:  # the same steps on every rank: the row describes the global batch
                figures = mean_over_ranks(fabric, figures)
            if evaluated:
                figures = {**figures, **evaluate(done)}
            if logged:
                log.log(done, {**figures, "train_s": round(trained, 2)})
            advance(1, **bar_figures(figures, curve_keys, logged, fabric.world_size))
            if done % checkpoint_every == 0 or done == steps:
                save_checkpoint(fabric, directory / CHECKPOINT, checkpoint_state(done))
                saved = done
            if snapshots and done in snapshots:
                kept = {k: v for k, v in checkpoint_state(done).items() if k not in RESUME_ONLY_KEYS}
                save_checkpoint(fabric, snapshots[done], kept)
    if zero:
        plot_curves(directory / "loss.png", [{k: log.series(k) for k in panel} for panel in curve_panels], description)
    return log


@contextmanager
def _say_where_interrupted(fabric: Fabric, description: str, directory: Path, saved: Callable[[], int],
                           checkpoint_every: int) -> Iterator[None]:
    """On Ctrl-C: which step the stage's checkpoint holds and how to go on, then stop as before."""
    try:
        yield
    except KeyboardInterrupt:
        step = saved()
        if step:
            fabric.print(f"{description}: interrupted; {directory / CHECKPOINT} holds step {step}: continue with "
                         "--resume (the steps after it are trained again)")
        else:
            fabric.print(f"{description}: interrupted before the first checkpoint (every {checkpoint_every} steps, "
                         "train.*.checkpoint_every): nothing to resume, start again")
        raise


def bar_figures(figures: Mapping[str, float], keys: list[str], logged: bool, world_size: int) -> dict[str, float]:
    """The figures of `keys` the progress bar shows after a step. One process: every step's.
    Several: only a logged step's, which are the mean over the processes (mean_over_ranks); in
    between the bar keeps the last mean rather than show the first process's own share."""
    if world_size > 1 and not logged:
        return {}
    return {k: v for k, v in figures.items() if k in keys}


def mean_over_ranks(fabric: Fabric, figures: dict[str, float]) -> dict[str, float]:
    """`figures` averaged over the processes (one all-reduce); unchanged for one process. Every
    rank must call it at the same steps with the same keys."""
    if fabric.world_size == 1 or not figures:
        return figures
    keys = sorted(figures)
    values = torch.tensor([float(figures[k]) for k in keys], dtype=torch.float64, device=fabric.device)
    values = fabric.all_reduce(values, reduce_op="mean")
    return dict(zip(keys, (float(v) for v in values.cpu()), strict=True))


def gather_ranks(fabric: Fabric, tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's `tensor` stacked: (world_size, *tensor.shape). Through torch.distributed's
    all_gather where a process group is up (Fabric's all_gather goes through the deprecated
    torch.distributed.nn.functional.all_gather, which warns on every rank), else Fabric's."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        parts = [torch.empty_like(tensor) for _ in range(fabric.world_size)]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.stack(parts)
    return fabric.all_gather(tensor).reshape(fabric.world_size, *tensor.shape)


def verify_replicas(fabric: Fabric, module: torch.nn.Module) -> str:
    """After data-parallel training every rank must hold the same weights; raise if not.

    Compares a weighted float64 checksum of all parameters across ranks (one all_gather).
    Returns a one-line summary ("" for a single process). Sharded strategies (FSDP) hold
    different shards by design and are not checked.
    """
    if fabric.world_size == 1:
        return ""
    if "fsdp" in type(fabric.strategy).__name__.lower():
        return "sharded weights (FSDP): replicas not compared"
    flat = torch.cat([p.detach().double().flatten().cpu() for p in module.parameters()])
    weights = torch.rand(flat.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    checksum = torch.stack([flat.sum(), (flat * weights).sum()]).to(fabric.device)
    gathered = gather_ranks(fabric, checksum).cpu()  # (world_size, 2)
    if not bool((gathered == gathered[0]).all()):
        raise TrainingError(f"ranks hold different weights after training: checksums {gathered.tolist()}")
    return f"weights identical on {fabric.world_size} ranks (checksum {float(gathered[0, 1]):.10g})"
