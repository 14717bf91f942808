"""Train the autoencoder with Lightning Fabric (paper: Adam, lr 1e-4, batch 32).

Two optimisers, as the autoencoder's training step defines them (interfaces.autoencoder
AutoencoderTrainingStep): G owns the autoencoder's parameters, D the step's discriminators.
The step decides the stages (reconstruction only before its `disc_start`, then KL and
adversarial terms); the loop runs G then D each step, with clipping, warm-up and EMA.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from proav_core.build import build_component
from proav_core.compiling import compile_model, compiled_summary, require_compile
from proav_core.config import ExperimentConfig, config_to_dict
from proav_core.errors import ConfigError, UsageError
from proav_core.metrics.psnr import psnr
from proav_core.training.batches import StepBatchSampler
from proav_core.training.checkpoint import component_names, load_checkpoint, rng_state, seed_step
from proav_core.training.common import (
    adam,
    check_finite,
    optimizer_step,
    prepare_stage_dir,
    run_dir,
    run_steps,
    verify_replicas,
    write_resolved_config,
)
from proav_core.training.ema import EMA
from proav_core.training.hardware import Hardware, launch_fabric
from proav_core.training.schedule import warmup_schedule
from proav_core.training.sharding import is_sharded

CURVES = (("loss", "d_loss"), ("video/psnr", "audio/psnr"))  # panels of loss.png
VAL_CURVES = (("val/video_psnr", "val/audio_psnr"),)  # with train.autoencoder.eval_every


def spread_indices(total: int, count: int) -> list[int]:
    """`count` indices spread evenly over range(total), first and last included (all of
    range(total) when count >= total)."""
    if count >= total:
        return list(range(total))
    if count == 1:
        return [0]
    return [round(i * (total - 1) / (count - 1)) for i in range(count)]


def model_modalities(model: torch.nn.Module) -> list[str]:
    """The modalities an autoencoder reconstructs, video first."""
    return [m for m in ("video", "audio") if m in getattr(model, "modalities", ("video", "audio"))]


@torch.no_grad()
def clip_psnrs(model: torch.nn.Module, data: dict[str, torch.Tensor], device: torch.device,
               batch_size: int = 8) -> dict[str, torch.Tensor]:
    """PSNR (dB) of each clip's reconstruction (posterior means, `model` in eval mode, its mode
    restored after): data {modality: (N, ...)} in dataset layout -> {modality: (N,)}."""
    was_training = model.training
    model.eval()
    count = next(iter(data.values())).shape[0]
    scores: dict[str, list[torch.Tensor]] = {m: [] for m in data}
    for i in range(0, count, batch_size):
        given = {m: x[i : i + batch_size].to(device) for m, x in data.items()}
        out = dict(zip(("video", "audio"), model.decode_latents(model.encode_latents(
            given.get("video"), given.get("audio")))))
        for m in data:
            scores[m].append(psnr(out[m].float().cpu(), given[m].float().cpu()))
    model.train(was_training)
    return {m: torch.cat(v) for m, v in scores.items()}


def psnr_report(model: torch.nn.Module, dataset: Any, device: torch.device, batch_size: int = 8
                ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Reconstruction PSNR (dB) over every item of a labelled `dataset`, in one pass: the mean
    ({"video_psnr": dB, "audio_psnr": dB}) and the mean per class ({class name: {"clips": n,
    "video_psnr": dB, "audio_psnr": dB}}, names from dataset.classes, else the label). Where one
    class is much harder than the rest, the mean hides it: on mdsa_base's held-out clips mel
    ranged from 32.9 to 35.3 dB by class."""
    items = [dataset[i] for i in range(len(dataset))]
    if not items:
        return {}, {}
    modalities = model_modalities(model)
    data = {m: torch.stack([it[m] for it in items]) for m in modalities}
    scores = clip_psnrs(model, data, device, batch_size)
    labels = torch.tensor([int(it["label"]) for it in items])
    names = list(getattr(dataset, "classes", []) or [])
    per_class: dict[str, dict[str, float]] = {}
    for label in sorted(set(labels.tolist())):
        chosen = labels == label
        name = names[label] if label < len(names) else str(label)
        per_class[name] = {"clips": int(chosen.sum()), **{f"{m}_psnr": round(float(v[chosen].mean()), 2)
                                                         for m, v in scores.items()}}
    return {f"{m}_psnr": float(v.mean()) for m, v in scores.items()}, per_class


def held_out_psnr(model: torch.nn.Module, dataset: Any, clips: int, device: torch.device,
                  batch_size: int = 8) -> Callable[[int], dict[str, float]]:
    """An `evaluate` for run_steps: mean PSNR (dB) of the reconstructions (posterior means,
    `model` in eval mode) of `clips` items of `dataset` spread evenly over it (all of them when
    it holds no more), per modality, as val/*. Spread, not the first: a prepared test split is
    ordered by class folder, so its first 32 of 154 clips were all of one class (the mel of
    that class reconstructs 1.3 dB above the mean of all four)."""
    items = [dataset[i] for i in spread_indices(len(dataset), clips)]
    if not items:
        raise ConfigError("train.autoencoder.eval_every needs held-out clips, but the dataset's test split is "
                          "empty; set eval_every = 0 or give the dataset a test split", path="train.autoencoder")
    modalities = model_modalities(model)
    data = {m: torch.stack([it[m] for it in items]) for m in modalities}

    def evaluate(step: int) -> dict[str, float]:
        return {f"val/{m}_psnr": float(v.mean()) for m, v in clip_psnrs(model, data, device, batch_size).items()}

    return evaluate


def train_autoencoder(
    cfg: ExperimentConfig, hardware: Hardware = Hardware(), *, resume: bool = False, overwrite: bool = False
) -> Path:
    """Train on the config's dataset; returns the stage folder (last.ckpt, metrics.csv, loss.png)."""
    for section, path in ((cfg.model.autoencoder, "model.autoencoder"), (cfg.dataset, "dataset")):
        if section is None:
            raise ConfigError(f"autoencoder training needs a [{path}] section", path=path)
    directory = run_dir(cfg) / "autoencoder"
    ckpt = prepare_stage_dir(directory, resume, overwrite)
    fabric = launch_fabric(hardware)
    if is_sharded(fabric):
        raise UsageError("proav train autoencoder: --strategy fsdp is not supported (Fabric's FSDP checkpoints hold "
                         "one sharded model, this loop trains two: the autoencoder and its discriminators); "
                         "use --strategy ddp, or activation checkpointing (checkpoint_blocks) to save memory")
    if hardware.compile_scope:
        require_compile(fabric.device)  # before anything is written
    loop, opt = cfg.train.autoencoder, cfg.train.autoencoder.optim
    audio_repr = None if cfg.audio_repr is None else build_component(cfg.audio_repr, clip=cfg.clip)
    dataset = build_component(cfg.dataset, clip=cfg.clip, audio_repr=audio_repr, split="train")

    seed_step(cfg.seed, -1, 0)  # initial weights depend on the config's seed alone
    autoencoder = build_component(cfg.model.autoencoder, clip=cfg.clip)
    step_fn = autoencoder.training_step().to(fabric.device)
    opt_g = adam(autoencoder.parameters(), opt, fabric.device, decoupled=False)
    d_params = [p for p in step_fn.discriminators.parameters() if p.requires_grad]
    opt_d = adam(d_params, opt, fabric.device, decoupled=False) if d_params else None
    sched_g = warmup_schedule(opt_g, opt.warmup_steps, opt.decay, loop.steps)
    sched_d = warmup_schedule(opt_d, opt.warmup_steps, opt.decay, loop.steps) if opt_d else None
    names = component_names(cfg)
    # DDP warns once that the 1x1 convolutions' weight gradients (the plane lifts, the pixel heads'
    # first layer) have other strides than their buckets: they differ only along size-1 axes, the
    # same memory layout, so the warning tells the user nothing
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides", category=UserWarning)
    autoencoder, opt_g = fabric.setup(autoencoder, opt_g)
    if opt_d is not None:
        step_fn.discriminators, opt_d = fabric.setup(step_fn.discriminators, opt_d)
    ema = EMA(autoencoder.module, loop.ema_decay) if loop.ema_decay else None
    if hardware.compile_scope:  # in place, after the EMA copy: checkpoints keep their keys
        compiled = compile_model(autoencoder.module, hardware.compile_scope, fabric.device)
        fabric.print(compiled_summary(compiled, "the autoencoder"))

    def state(step: int) -> dict[str, Any]:
        out = {"model": autoencoder, "optimizer": opt_g, "scheduler": sched_g,
               "discriminators": step_fn.discriminators, "step": step, "config": config_to_dict(cfg),
               "components": names, "rng": rng_state()}
        if opt_d is not None:
            out |= {"optimizer_d": opt_d, "scheduler_d": sched_d}
        if ema is not None:
            out["ema"] = ema
        return out

    start = 0
    if ckpt is not None:
        start = int(load_checkpoint(fabric, ckpt, state(0), names)["step"])
    write_resolved_config(fabric, directory, cfg)  # after a resumed checkpoint loaded: a refused run changes nothing
    sampler = StepBatchSampler(len(dataset), loop.batch_size, cfg.seed, fabric.global_rank, fabric.world_size, start)
    batches = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=loop.num_workers))

    def train_step(step: int) -> dict[str, float]:
        batch = {k: v.to(fabric.device) if isinstance(v, torch.Tensor) else v for k, v in next(batches).items()}
        loss, logs, recon = step_fn.generator_loss(autoencoder, batch, step)
        check_finite(step, {**logs, "loss": loss})
        optimizer_step(fabric, loss, autoencoder, opt_g, sched_g, opt.grad_clip)
        d = step_fn.discriminator_loss(batch, recon, step) if opt_d is not None else None
        if d is not None:
            d_loss, d_logs = d
            check_finite(step, {**d_logs, "d_loss": d_loss})
            optimizer_step(fabric, d_loss, step_fn.discriminators, opt_d, sched_d, opt.grad_clip)
            logs = {**logs, **d_logs}
        if ema is not None:
            ema.update(autoencoder)
        return {**logs, "lr": sched_g.get_last_lr()[0]}

    evaluate = None
    if loop.eval_every:
        held_out = build_component(cfg.dataset, clip=cfg.clip, audio_repr=audio_repr, split="test")
        evaluate = held_out_psnr(ema.shadow if ema is not None else autoencoder.module, held_out, loop.eval_clips,
                                 fabric.device)
    run_steps(fabric, directory=directory, description="train autoencoder", start=start, steps=loop.steps,
              seed=cfg.seed, log_every=loop.log_every, checkpoint_every=loop.checkpoint_every,
              train_step=train_step, checkpoint_state=state,
              curve_panels=CURVES + (VAL_CURVES if evaluate else ()), evaluate=evaluate, eval_every=loop.eval_every)
    if summary := verify_replicas(fabric, autoencoder):
        fabric.print(summary)
    return directory
