"""Train the generator on cached latents with Lightning Fabric (paper: AdamW, lr 1e-4).

Per step: normalise the planes per channel (the latent cache's statistics, latent_norm.py),
stack them, condition tokens from the labels (and, for a multi-task generator, a task per
item: task_mix.py), the objective's loss
(reflected flow by default, with condition dropout for classifier-free guidance), backward,
clip, step, LR warm-up, EMA. With `guide_fraction`, the state at that share of the steps is also kept as
guide.ckpt: the weaker model of autoguidance (proav_core.flow_matching.autoguided).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from proav_core.build import build_generation
from proav_core.compiling import compile_model, compiled_summary, require_compile
from proav_core.config import ExperimentConfig, config_to_dict
from proav_core.errors import ConfigError, UsageError
from proav_core.tasks import plane_value_map, probe_planes
from proav_core.training.batches import StepBatchSampler
from proav_core.training.checkpoint import component_names, load_checkpoint, peek_checkpoint, rng_state, seed_step
from proav_core.training.class_probe import fit_class_probes, probes_to_dict
from proav_core.training.common import (
    GUIDE_CHECKPOINT,
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
from proav_core.training.latent_cache import LatentDataset, autoencoder_changed
from proav_core.training.latent_norm import LatentNormalizer
from proav_core.training.schedule import warmup_schedule
from proav_core.training.sharding import is_sharded, update_ema
from proav_core.training.task_mix import GivenSummary, TaskMix


class FlowModel(nn.Module):
    """Generator + conditioner (+ the task mix of a multi-task generator), trained as one module;
    forward returns the objective's loss."""

    def __init__(self, generator: nn.Module, conditioner: nn.Module, objective: Any, loss_mask: Tensor,
                 tasks: TaskMix | None = None):
        super().__init__()
        self.generator = generator
        self.conditioner = conditioner
        self.objective = objective
        self.tasks = tasks  # None: joint generation only
        self.register_buffer("loss_mask", loss_mask.float(), persistent=False)

    @property
    def trained_tasks(self) -> list[str]:
        return ["joint"] if self.tasks is None else list(self.tasks.names)

    def forward(self, x1: Tensor, labels: Tensor) -> Tensor:
        """x1 (B, *latent_shape) data latents, labels (B,) -> scalar loss."""
        cond = self.conditioner.from_labels(labels)  # (B, L, Dc)
        null = self.conditioner.null(x1.shape[0])  # (B, L, Dc)
        if self.tasks is None:
            return self.objective.loss(self.generator, x1, cond, null, mask=self.loss_mask)
        given, mask, ids = self.tasks.split(x1, self.loss_mask)  # (B, *latent) bool, (B, *latent), (B,)
        clean = torch.where(self.loss_mask > 0, x1, torch.zeros_like(x1))  # (B, *latent), padding zero

        def model(xt: Tensor, t: Tensor, c: Tensor) -> Tensor:
            return self.generator(torch.where(given, clean, xt), t, c)  # given planes enter clean

        cond, null = self.tasks.embed(cond, ids, clean), self.tasks.embed(null, ids, clean)  # (B, L, Dc)
        return self.objective.loss(model, x1, cond, null, mask=mask)


def plane_weight_map(stacker: Any, weights: Mapping[str, float]) -> Tensor:
    """(*latent_shape) float: each plane's weight (`weights`, unlisted planes 1) at the latent
    positions that hold its values, 0 elsewhere (padding). The planes are found by stacking
    probes, so any stacker that keeps each plane's values in positions of their own works.
    ConfigError naming train.generator.plane_loss_weights for a plane the latent does not have."""
    planes = list(probe_planes(stacker))
    missing = sorted(set(weights) - set(planes))
    if missing:
        raise ConfigError(f"plane_loss_weights names {', '.join(missing)}, which this generator's latent does not "
                          f"hold; its planes: {', '.join(planes)}", path="train.generator.plane_loss_weights")
    return plane_value_map(stacker, lambda name: weights.get(name, 1.0))  # (*latent_shape)


def flow_model(parts: Any, tasks: dict[str, float] | None,
               plane_weights: Mapping[str, float] | None = None, given_summary: GivenSummary = "none") -> FlowModel:
    """The FlowModel of built generation parts; a task mix when `tasks` names more than joint
    (with `given_summary`, task_mix.GivenPlaneStats); the loss mask weighted per plane by
    `plane_weights` (plane_weight_map) when given.
    The generator's optional hooks run first: `prepare_conditioner(conditioner)`, and
    `narrow_loss_mask(mask)` on the stacker's loss mask."""
    mix = None
    if tasks and set(tasks) != {"joint"}:
        mix = TaskMix(tasks, parts.stacker, parts.conditioner.dim, given_summary)
    prepare = getattr(parts.generator, "prepare_conditioner", None)
    if callable(prepare):
        prepare(parts.conditioner)  # e.g. av_dit's adapter step: the backbone's conditioner, frozen
    mask = parts.stacker.loss_mask()  # (*latent_shape)
    narrow = getattr(parts.generator, "narrow_loss_mask", None)
    if callable(narrow):
        mask = narrow(mask)  # (*latent_shape), e.g. av_dit's backbone step: video planes only
    if plane_weights:
        mask = mask * plane_weight_map(parts.stacker, plane_weights)  # (*latent_shape)
    if mix is not None and (idle := mix.idle_tasks(mask)):
        raise ConfigError(
            f"train.generator.tasks: {', '.join(idle)} would teach this generator nothing: its loss covers only "
            f"planes that {'those tasks give' if len(idle) > 1 else 'the task gives'} (the generator narrows the loss, "
            "e.g. av_dit's backbone step to the video planes); drop them from tasks, e.g. --set "
            "'train.generator.tasks={joint=1}'", path="train.generator.tasks")
    return FlowModel(parts.generator, parts.conditioner, parts.objective, mask, mix)


def parameter_counts(module: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; a generator may freeze part of itself (av_dit)."""
    params = list(module.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def build_flow_model(cfg: ExperimentConfig, latents: LatentDataset) -> tuple[FlowModel, Any]:
    """The FlowModel for a config and a latent cache, plus the stacker that feeds it."""
    for section in ("stacker", "conditioner", "generator"):
        if getattr(cfg.model, section) is None:
            raise ConfigError(f"generator training needs [model.{section}]", path=f"model.{section}")
    if cfg.objective is None:
        raise ConfigError("generator training needs an [objective] section", path="objective")
    m = latents.manifest
    parts = build_generation(cfg, m.plane_shapes, latents.normalizer().bound(m.latent_bound), m.classes)
    loop = cfg.train.generator
    return flow_model(parts, loop.tasks, loop.plane_loss_weights, loop.given_summary), parts.stacker


def check_resumed_run(ckpt: Path, tasks: dict[str, float], given_summary: str, normalizer: LatentNormalizer,
                      latents_dir: Path) -> None:
    """A resumed run keeps the task mix and the given-side summary it started with (the task
    embedding and the summary's layers depend on them), and the latents it started on (a cache
    re-encoded by another autoencoder, or from other clips, changes what the saved weights mean)."""
    if not ckpt.is_file():
        return  # load_checkpoint names the missing file
    raw = peek_checkpoint(ckpt)
    saved = raw.get("tasks") or {"joint": 1.0}
    if set(saved) != set(tasks) or any(abs(saved[k] - tasks[k]) > 1e-9 for k in saved):
        raise UsageError(f"{ckpt} was trained with train.generator.tasks = {saved}, the config now says {tasks}; "
                         "resume with the same tasks or pass --overwrite to start a new run")
    saved_summary = raw.get("given_summary") or "none"  # absent before given summaries
    if saved_summary != given_summary:
        raise UsageError(f"{ckpt} was trained with train.generator.given_summary = {saved_summary!r}, the config now "
                         f"says {given_summary!r}; resume with the same or pass --overwrite to start a new run")
    if not saved_on(raw, normalizer):
        raise UsageError(f"{ckpt} was trained on other latents than {latents_dir} holds (their per-channel "
                         "statistics differ: the autoencoder or the clips changed since); pass --overwrite to "
                         "start a new run on these latents")


def saved_on(raw: dict[str, Any], normalizer: LatentNormalizer) -> bool:
    """Whether a generator checkpoint's contents were trained on the latents these statistics
    describe (checkpoints from before normalisation carry none and are taken as matching)."""
    saved = (raw.get("latents") or {}).get("normalization")
    return saved is None or LatentNormalizer.from_dict(saved).same_as(normalizer)


def trained_on(ckpt: Path, normalizer: LatentNormalizer) -> bool:
    """saved_on for a checkpoint file."""
    return saved_on(peek_checkpoint(ckpt), normalizer)


def check_resumable_sharded(ckpt: Path) -> None:
    """FSDP resumes only from FSDP checkpoints: a single-process (or DDP) checkpoint numbers its
    optimiser state by parameter position, FSDP's names it by parameter, and FSDP would misread
    the former. (The other way round works: one process resumes an FSDP checkpoint.)"""
    if not ckpt.is_file():
        return  # load_checkpoint names the missing file
    state = peek_checkpoint(ckpt).get("optimizer", {}).get("state", {})
    if any(isinstance(key, int) for key in state):
        raise UsageError(f"{ckpt} was written without FSDP: its optimiser state cannot resume under --strategy fsdp; "
                         "resume it with the strategy that wrote it (e.g. ddp), or pass --overwrite to start anew")


def collate_planes(items: list[dict[str, Any]]) -> dict[str, Any]:
    names = items[0]["planes"].keys()
    return {
        "planes": {k: torch.stack([it["planes"][k] for it in items]) for k in names},
        "label": torch.stack([torch.as_tensor(it["label"]) for it in items]),
    }


def resumed_guide_note(guide: Path, guide_step: int | None, start: int) -> str:
    """What a run resumed at step `start` means for its guide (guide.ckpt, kept after `guide_step`
    steps): "" when the guide is still to come or is the one the config asks for, else a note."""
    if guide_step is None or start < guide_step:
        return ""
    if not guide.is_file():
        return (f"note: resumed at step {start}, past the guide step {guide_step} ([train.generator] guide_fraction), "
                f"with no {guide}: this run keeps no guide, so its samples can use classifier-free guidance but "
                "not autoguidance (train the generator afresh to keep one)")
    kept = int(peek_checkpoint(guide).get("step", -1))
    if kept != guide_step:
        return (f"note: {guide} holds step {kept}, kept before the run's step count changed; guide_fraction now "
                f"means step {guide_step}, which this resumed run has passed: the old guide stays")
    return ""


def train_generator(
    cfg: ExperimentConfig,
    hardware: Hardware = Hardware(),
    *,
    resume: bool = False,
    overwrite: bool = False,
    latents_dir: str | Path | None = None,
) -> Path:
    """Train from the latent cache; returns the stage folder (last.ckpt, metrics.csv, loss.png)."""
    directory = run_dir(cfg) / "generator"
    ckpt = prepare_stage_dir(directory, resume, overwrite)
    if ckpt is None:  # a new run: a guide left by the run it replaces is not this run's
        (directory / GUIDE_CHECKPOINT).unlink(missing_ok=True)
    fabric = launch_fabric(hardware)
    if hardware.compile_scope:
        require_compile(fabric.device)  # before anything is written
    loop = cfg.train.generator
    latents = LatentDataset(latents_dir or run_dir(cfg) / "latents")
    encoded_by = latents.manifest.autoencoder_checkpoint
    if autoencoder_changed(encoded_by, latents.manifest.autoencoder_sha256):
        raise UsageError(f"the latents in {latents.directory} were encoded by {encoded_by}, which has changed since "
                         "(trained again or overwritten): run `proav encode CONFIG` again, then train the generator")
    seed_step(cfg.seed, -1, 0)  # initial weights depend on the config's seed alone
    model, stacker = build_flow_model(cfg, latents)
    normalizer = latents.normalizer()
    class_probes = probes_to_dict(fit_class_probes(normalizer.normalize(latents.planes), latents.labels,
                                                   len(latents.manifest.classes)))  # a2v / v2a prompts
    opt = loop.optim
    trainable = [p for p in model.parameters() if p.requires_grad]  # frozen parts stay out of the optimiser
    optimizer = adam(trainable, opt, fabric.device, decoupled=True)
    scheduler = warmup_schedule(optimizer, opt.warmup_steps, opt.decay, loop.steps)
    names = component_names(cfg)
    context = getattr(model.generator, "checkpoint_context", None)  # optional hook: what rebuilding it needs
    generator_context = context() if callable(context) else {}
    fabric.print("generator parameters: {:,} trainable of {:,}; with the conditioner: {:,} of {:,}".format(
        *parameter_counts(model.generator), *parameter_counts(model)))
    sharded = is_sharded(fabric)
    ema = EMA(model, loop.ema_decay).to(fabric.device) if loop.ema_decay and sharded else None  # unsharded copy
    model, optimizer = fabric.setup(model, optimizer)
    if loop.ema_decay and not sharded:
        ema = EMA(model.module, loop.ema_decay)  # on the model's device
    if sharded:
        units = ", ".join(sorted(c.__name__ for c in getattr(fabric.strategy, "wrapped_classes", ()))) or "none found"
        fabric.print(f"FSDP on {fabric.world_size} processes, one shard unit per block ({units}); "
                     "checkpoints hold the full state")
    if hardware.compile_scope:  # in place, after the EMA copy: checkpoints keep their keys
        compiled = compile_model(model.module.generator, hardware.compile_scope, fabric.device)
        fabric.print(compiled_summary(compiled, "the generator"))

    def state(step: int) -> dict[str, Any]:
        out = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "step": step,
               "config": config_to_dict(cfg), "components": names, "rng": rng_state(),
               "latents": {"plane_shapes": latents.manifest.plane_shapes,
                           "latent_bound": latents.manifest.latent_bound,
                           "normalization": normalizer.to_dict(),
                           "classes": latents.manifest.classes,
                           "autoencoder_checkpoint": latents.manifest.autoencoder_checkpoint,
                           "autoencoder_sha256": latents.manifest.autoencoder_sha256},
               "tasks": cfg.train.generator.tasks, "given_summary": cfg.train.generator.given_summary,
               "class_probe": class_probes, "generator_context": generator_context}
        if ema is not None:
            out["ema"] = ema
        return out

    start = 0
    if ckpt is not None:
        check_resumed_run(ckpt, loop.tasks, loop.given_summary, normalizer, latents.directory)
        if sharded:
            check_resumable_sharded(ckpt)
        restore = {k: v for k, v in state(0).items()
                   if k not in ("tasks", "class_probe", "generator_context")}  # checked / refitted / rebuilt
        start = int(load_checkpoint(fabric, ckpt, restore, names)["step"])
        if note := resumed_guide_note(directory / GUIDE_CHECKPOINT, loop.guide_step, start):
            fabric.print(note)
    write_resolved_config(fabric, directory, cfg)  # after a resumed checkpoint loaded: a refused run changes nothing
    sampler = StepBatchSampler(len(latents), loop.batch_size, cfg.seed, fabric.global_rank, fabric.world_size, start)
    batches = iter(DataLoader(latents, batch_sampler=sampler, num_workers=loop.num_workers, collate_fn=collate_planes))

    def train_step(step: int) -> dict[str, float]:
        batch = next(batches)
        planes = normalizer.normalize({k: v.to(fabric.device) for k, v in batch["planes"].items()})
        x1 = stacker.stack(planes)  # (B, *latent), normalised space
        loss = model(x1, batch["label"].to(fabric.device))
        check_finite(step, {"flow": loss})
        optimizer_step(fabric, loss, model, optimizer, scheduler, opt.grad_clip)
        if ema is not None:
            update_ema(fabric, ema, model)
        return {"loss": float(loss.detach()), "lr": scheduler.get_last_lr()[0]}

    run_steps(fabric, directory=directory, description="train generator", start=start, steps=loop.steps,
              seed=cfg.seed, log_every=loop.log_every, checkpoint_every=loop.checkpoint_every,
              train_step=train_step, checkpoint_state=state,
              snapshots={loop.guide_step: directory / GUIDE_CHECKPOINT} if loop.guide_step else None)
    if summary := verify_replicas(fabric, model):
        fabric.print(summary)
    return directory
