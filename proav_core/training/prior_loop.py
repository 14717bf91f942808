"""`proav train prior`: train the `[model.prior]` component (kind `prior`, e.g. JavisDiT's
hist_sypo) on cached latents with Lightning Fabric, and load a trained one for a generator.

Per step: normalise the planes per channel as the generator loop does, stack them with
`[model.stacker]`, condition tokens from the labels through `[model.conditioner]` (trained
with the prior: both are saved), the prior's own loss (its contrastive loss against
asynchronous pairs for hist_sypo), backward, clip, step, LR warm-up. The checkpoint
(<output_dir>/<name>/prior/last.ckpt) holds the weights of the prior and of the conditioner
under `model`, and `prior_stage`: the prior's registry name and parameters, the condition
width and the latent geometry, which `load_trained_prior` checks against the generator's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from proav_core.build import build_component
from proav_core.config import ExperimentConfig, config_to_dict
from proav_core.errors import CheckpointError, ConfigError, MissingWeightsError
from proav_core.training.batches import StepBatchSampler
from proav_core.training.checkpoint import (
    component_names,
    load_checkpoint,
    peek_checkpoint,
    require_kind,
    rng_state,
    seed_step,
)
from proav_core.training.common import adam, check_finite, optimizer_step, prepare_stage_dir, run_dir, run_steps
from proav_core.training.common import write_resolved_config
from proav_core.training.generator_loop import collate_planes
from proav_core.training.hardware import Hardware, launch_fabric
from proav_core.training.latent_cache import LatentDataset
from proav_core.training.schedule import warmup_schedule


class PriorModel(nn.Module):
    """Prior + the conditioner that feeds it, trained as one module; forward returns the loss."""

    def __init__(self, prior: nn.Module, conditioner: nn.Module):
        super().__init__()
        self.prior, self.conditioner = prior, conditioner

    def forward(self, latent: Tensor, labels: Tensor) -> Tensor:
        """latent (B, *latent_shape), labels (B,) -> scalar loss."""
        return self.prior.loss(latent, self.conditioner.from_labels(labels))


def train_prior(cfg: ExperimentConfig, hardware: Hardware = Hardware(), *, resume: bool = False,
                overwrite: bool = False, latents_dir: str | Path | None = None) -> Path:
    """Train [model.prior] from the latent cache (the run's own, or `latents_dir`, as
    train_generator); returns the stage folder (last.ckpt, metrics.csv, loss.png)."""
    for section in ("stacker", "conditioner", "prior"):
        if getattr(cfg.model, section) is None:
            raise ConfigError(f"prior training needs [model.{section}]", path=f"model.{section}")
    directory = run_dir(cfg) / "prior"
    ckpt = prepare_stage_dir(directory, resume, overwrite)
    fabric = launch_fabric(hardware)
    loop = cfg.train.prior
    latents = LatentDataset(latents_dir or run_dir(cfg) / "latents")
    m = latents.manifest
    seed_step(cfg.seed, -1, 0)  # initial weights depend on the config's seed alone
    stacker = build_component(cfg.model.stacker, plane_shapes=dict(m.plane_shapes))
    conditioner = build_component(cfg.model.conditioner, classes=list(m.classes))
    prior = build_component(cfg.model.prior, cond_dim=conditioner.dim, stacker=stacker)
    model, normalizer = PriorModel(prior, conditioner), latents.normalizer()
    opt = loop.optim
    optimizer = adam(model.parameters(), opt, fabric.device, decoupled=True)
    scheduler = warmup_schedule(optimizer, opt.warmup_steps, opt.decay, loop.steps)
    names = component_names(cfg)
    model, optimizer = fabric.setup(model, optimizer)
    stage = {"name": str(cfg.model.prior.name), "params": cfg.model.prior.params.model_dump(),
             "cond_dim": int(conditioner.dim), "latent_shape": list(stacker.latent_shape),
             "plane_shapes": {k: list(v) for k, v in m.plane_shapes.items()}, "classes": m.classes}

    def state(step: int) -> dict[str, Any]:
        return {"model": model, "optimizer": optimizer, "scheduler": scheduler, "step": step,
                "config": config_to_dict(cfg), "components": names, "rng": rng_state(), "prior_stage": stage}

    start = 0
    if ckpt is not None:
        start = int(load_checkpoint(fabric, ckpt, state(0), names)["step"])
    write_resolved_config(fabric, directory, cfg)  # after a resumed checkpoint loaded: a refused run changes nothing
    sampler = StepBatchSampler(len(latents), loop.batch_size, cfg.seed, fabric.global_rank, fabric.world_size, start)
    batches = iter(DataLoader(latents, batch_sampler=sampler, num_workers=loop.num_workers, collate_fn=collate_planes))

    def train_step(step: int) -> dict[str, float]:
        batch = next(batches)
        planes = normalizer.normalize({k: v.to(fabric.device) for k, v in batch["planes"].items()})
        loss = model(stacker.stack(planes), batch["label"].to(fabric.device))
        check_finite(step, {"prior": loss})
        optimizer_step(fabric, loss, model, optimizer, scheduler, opt.grad_clip)
        return {"loss": float(loss.detach()), "lr": scheduler.get_last_lr()[0]}

    run_steps(fabric, directory=directory, description="train prior", start=start, steps=loop.steps,
              seed=cfg.seed, log_every=loop.log_every, checkpoint_every=loop.checkpoint_every,
              train_step=train_step, checkpoint_state=state)
    return directory


def load_trained_prior(path: str | None, name: str, key: str, cond_dim: int, stacker: Any) -> nn.Module:
    """The prior `name` that `proav train prior` wrote to `path`, weights loaded, for a generator
    whose config names the checkpoint at `key`; the prior stage's conditioner weights ride along
    as `prior.stage_conditioner` (a state dict, not a submodule). ConfigError (naming `key`) when the path is
    unset or missing, the file is another kind of checkpoint, or it was trained for another
    prior, condition width or latent layout; MissingWeightsError when the file is not there."""
    if not path:
        raise ConfigError(f"{key} is not set: a prior '{name}' must be trained first (`proav train prior CONFIG` "
                          "writes <output_dir>/<name>/prior/last.ckpt); set the key to that file", path=key)
    if not Path(path).is_file():
        raise MissingWeightsError(f"{key}: prior checkpoint {path} not found; train it with `proav train prior "
                                  "CONFIG` or point the key to an existing last.ckpt")
    try:
        raw = peek_checkpoint(path)
        require_kind(raw, path, "prior")
    except CheckpointError as err:  # corrupt, or another kind of checkpoint: say which key named it
        raise ConfigError(f"{key}: {err}", path=key) from None
    stage = raw.get("prior_stage")
    if not isinstance(stage, dict):
        raise ConfigError(f"{key}: {path} is not a prior checkpoint (`proav train prior` writes one)", path=key)
    prior = build_prior_stage(stage, name, f"{key}: {path}", key, cond_dim, stacker)
    weights = {k.removeprefix("prior."): v for k, v in raw["model"].items() if k.startswith("prior.")}
    prior.load_state_dict(weights)
    # the condition tokens the prior was trained on: a generator may start its conditioner from them
    prior.stage_conditioner = {k.removeprefix("conditioner."): v for k, v in raw["model"].items()
                               if k.startswith("conditioner.")}
    prior.stage_source = str(path)
    return prior


def build_prior_stage(stage: Mapping[str, Any], name: str, source: str, key: str, cond_dim: int,
                      stacker: Any) -> nn.Module:
    """The prior a stage record describes ({"name", "params", "cond_dim", "latent_shape"}, as
    `proav train prior` writes it and a generator checkpoint keeps it), untrained: its weights
    come from that checkpoint. ConfigError (naming `key`; `source` says where the record is) when
    it was trained for another prior, condition width or latent layout. The record rides along
    as `prior.stage`."""
    if stage["name"] != name:
        raise ConfigError(f"{source} holds prior '{stage['name']}', the generator asks for '{name}'", path=key)
    if int(stage["cond_dim"]) != int(cond_dim) or tuple(stage["latent_shape"]) != tuple(stacker.latent_shape):
        raise ConfigError(
            f"{source} was trained for condition width {stage['cond_dim']} and latent "
            f"{tuple(stage['latent_shape'])}; this generator has {cond_dim} and {tuple(stacker.latent_shape)}. "
            "Train the prior with the same conditioner, stacker and autoencoder", path=key)
    prior = build_component({"name": name, **stage["params"]}, "prior", cond_dim=cond_dim, stacker=stacker)
    prior.stage = dict(stage)
    return prior
