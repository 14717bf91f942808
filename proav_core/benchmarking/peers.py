"""Generators compared on the same data (the peers' benchmark, benchmarks/bench_peers.py).

Every generator config (STDiT's demo config and the peers' tiny configs) is trained on the
latent cache of one finished `proav demo` run (the same autoencoder, the same cached
syncshapes latents, the same held-out clips), for the same number of steps, then:
    speed       seconds per training step (from the run's metrics.csv), seconds per sample
                (a batch of `samples_per_class` x classes prompts, the sampler's steps, CFG,
                decode included) and the latency of one sample alone
    size        parameters, trainable and total (the generator; the conditioner is shared)
    quality     shape_sync of the samples read back from mp4 (single-object share, whole-shape
                share (one object that fits a shape template), video and audio class
                recognition, sync F1; the samples shuffled among themselves, their chance level,
                and sync above it; the timing mix (the share of clips per bounce pattern), its
                modal share and its overlap with the mix of every clip of the data, training and
                held-out), FVD of the samples against the held-out
                clips with the offline I3D (few clips: a noisy figure, compare within one run)
Beside them, once: the held-out real clips and shuffled real pairs (shape_sync), and the
FVD of real training clips against the held-out ones (the floor at this clip count).
A generator whose run already holds all its steps is not retrained. A generator that reads a
trained prior (javisdit with hist_sypo) gets its prior stage first, in its own run folder; AV-DiT
with `train = "adapters"` gets its recipe: a backbone step for half the steps (video planes
only), then the adapter step on the frozen backbone for the other half.
"""

from __future__ import annotations

import copy
import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from proav_core.benchmarking.report import spread
from proav_core.build import build
from proav_core.config import ExperimentConfig, config_from_dict, config_to_dict, load_config
from proav_core.data import read_clip
from proav_core.data.contact_sheet import SheetRow, save_contact_sheet
from proav_core.data.synth import syncshapes_params
from proav_core.demo import demo_configs, finished
from proav_core.demo_scores import Clip, above_chance, fed, metric, scored, shuffled, split_clips
from proav_core.errors import UsageError
from proav_core.generated import class_prompt, prompt_class, write_samples
from proav_core.sampling import SamplingPipeline
from proav_core.training.checkpoint import peek_checkpoint
from proav_core.training.common import CHECKPOINT, GUIDE_CHECKPOINT, run_dir
from proav_core.training.generator_loop import train_generator
from proav_core.training.hardware import Hardware
from proav_core.training.prior_loop import train_prior

SYNC_FIGURES = ("single_object_share", "whole_shape_share", "steady_shape_share", "video_accuracy",
                "audio_accuracy", "sync_f1", "background_saturation", "modal_pattern_share", "pattern_overlap")


@dataclass
class Compared:
    """One compared generator: its label in the report, its config file, the run config, and
    the stage its recipe trains first: "prior" (javisdit's HiST-Sypo, into the run's prior/
    folder, from `cfg`) or "backbone" (AV-DiT's backbone step, the run config `first`)."""

    label: str
    path: str
    cfg: ExperimentConfig
    first_stage: str | None = None
    first: ExperimentConfig | None = None


def demo_run(demo_cfg: ExperimentConfig, demo_path: str | Path) -> tuple[ExperimentConfig, Path]:
    """(the demo's cached-data config, its run folder), checked to hold a finished run."""

    _, cached = demo_configs(demo_cfg)
    run = run_dir(cached)
    if not (run / "autoencoder" / CHECKPOINT).is_file() or not (run / "latents").is_dir():
        raise UsageError(f"{run} holds no finished demo run (autoencoder and latents); run "
                         f"`proav demo --config {demo_path}` first")
    return cached, run


def generator_config(path: str | Path, cached: ExperimentConfig, steps: int, overrides: Sequence[str] = (),
                     label: str | None = None, seed: int | None = None) -> Compared:
    """One compared generator: `path`'s model and training, renamed
    <demo>-peer-<label>, reading the demo's prepared data, trained for `steps`; with `seed`, at
    that seed (training and sampling) in place of the config's, the label <label>_s<seed>."""
    cfg = load_config(path, [*overrides, *([] if seed is None else [f"seed={seed}"])])
    tree, demo_tree = config_to_dict(cfg), config_to_dict(cached)
    if tree["model"]["autoencoder"] != demo_tree["model"]["autoencoder"] or tree["clip"] != demo_tree["clip"]:
        raise UsageError(f"{path}: its autoencoder or clip differs from the demo config's; the compared "
                         "generators must run on the demo's latents (extend the demo config)")
    label = (label or tree["model"]["generator"]["name"]) + ("" if seed is None else f"_s{seed}")
    tree.update(name=f"{cached.name}-peer-{label}", dataset=demo_tree["dataset"], output_dir=demo_tree["output_dir"])
    tree["train"]["generator"]["steps"] = steps
    source = f"{path} (peers benchmark, {steps} steps)"
    if uses_prior(tree):  # the prior stage runs first, into this run's folder
        tree["model"]["generator"]["prior_checkpoint"] = str(Path(tree["output_dir"]) / tree["name"] / "prior" / "last.ckpt")
        return Compared(label, str(path), config_from_dict(tree, source=source), "prior")
    if tree["model"]["generator"].get("train") == "adapters":  # AV-DiT's recipe: half the steps each
        backbone = copy.deepcopy(tree)
        backbone["name"] = f"{tree['name']}-backbone"
        backbone["model"]["generator"].update(train="backbone", backbone_checkpoint=None)
        backbone["train"]["generator"]["tasks"] = {"joint": 1.0}  # it learns the video planes alone: no given side
        backbone["train"]["generator"]["steps"] = steps // 2
        tree["train"]["generator"]["steps"] = steps - steps // 2
        tree["model"]["generator"]["backbone_checkpoint"] = str(Path(tree["output_dir"]) / backbone["name"]
                                                                / "generator" / "last.ckpt")
        return Compared(label, str(path), config_from_dict(tree, source=source), "backbone",
                        config_from_dict(backbone, source=f"{source}, backbone step"))
    return Compared(label, str(path), config_from_dict(tree, source=source))


SPREAD_FIGURES = ("single_object_share", "whole_shape_share", "steady_shape_share", "video_accuracy",
                  "audio_accuracy", "sync_f1", "modal_pattern_share", "pattern_overlap")


def seed_spread(generators: dict[str, dict[str, Any]], seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Per generator trained at several seeds (report labels <label>_s<seed>): the mean, min and
    max over its seeds of the shape_sync figures and of sync above chance. One training seed is
    not a measurement of an architecture: on the demo's latents STDiT put 77 % of its samples on
    one bounce pattern at seed 0 and 53-55 % at seeds 1 and 2."""
    out: dict[str, dict[str, Any]] = {}
    if len(seeds) < 2:
        return out
    for label in generators:
        base, _, seed = label.rpartition("_s")
        if not base or base in out or not seed.isdigit():
            continue
        runs = [generators.get(f"{base}_s{s}") for s in seeds]
        if any(r is None for r in runs):
            continue
        figures = {k: [r["shape_sync"].get(k) for r in runs] for k in SPREAD_FIGURES}
        figures["sync_above_chance"] = [r.get("sync_above_chance") for r in runs]
        out[base] = {"seeds": list(seeds), **{k: spread(v) for k, v in figures.items()}}
    return out


def uses_prior(tree: dict[str, Any]) -> bool:
    """A generator that reads a trained [model.prior] (JavisDiT with HiST-Sypo)."""
    return bool(tree["model"].get("prior")) and tree["model"]["generator"].get("prior", "none") != "none"


def planned_steps(checkpoint: Path) -> int | None:
    """The generator steps the run of `checkpoint` was configured for."""

    return peek_checkpoint(checkpoint).get("config", {}).get("train", {}).get("generator", {}).get("steps")


def training_curve(metrics_csv: Path) -> list[dict[str, float]]:
    """(step, train_s, loss) rows of a generator run's metrics.csv."""
    with metrics_csv.open(newline="") as f:
        return [{"step": int(r["step"]), "train_s": float(r["train_s"]), "loss": round(float(r["loss"]), 4)}
                for r in csv.DictReader(f) if r.get("loss")]


def parameter_counts(module: torch.nn.Module) -> dict[str, int]:
    return {"total": sum(p.numel() for p in module.parameters()),
            "trainable": sum(p.numel() for p in module.parameters() if p.requires_grad)}


def sync_figures(cfg: ExperimentConfig, clips: list[Clip], params: dict[str, Any],
                 reference: Any = None) -> dict[str, float | None]:
    """shape_sync's headline figures of a clip set and its timing mix (bounce_patterns); with
    `reference` (a shape_sync metric already fed the real clips as "real"; a copy of
    it is used, so the real clips are judged once for every set) also the overlap of the timing
    mixes (pattern_overlap)."""
    m = metric(cfg, "shape_sync", **params) if reference is None else copy.deepcopy(reference)
    result = scored(m, clips)
    details = {**result.details, "sync_f1": result.value}
    figures = {k: None if details.get(k) is None else round(float(details[k]), 3) for k in SYNC_FIGURES}
    return {**figures, "bounce_patterns": {k: round(v, 3) for k, v in details.get("bounce_patterns", {}).items()}}


class VideoDistances:
    """FVD and KVD metrics holding one real clip set's I3D statistics (each clip run through the
    I3D once for both), copied for each generated set."""

    def __init__(self, cfg: ExperimentConfig, real: list[Clip]):

        self.base = {name: build("metric", name, clip=cfg.clip) for name in ("fvd", "kvd")}
        self._feed(self.base, real, "real")

    @staticmethod
    def _feed(metrics: dict[str, Any], clips: list[Clip], role: str) -> None:
        for c in clips:
            video = c.video[None]  # (1, 3, T, H, W): one tensor for both, so the shared I3D runs once
            for m in metrics.values():
                m.update({"video": video}, role=role)

    def __call__(self, fake: list[Clip]) -> dict[str, Any]:
        metrics = {k: copy.deepcopy(m, memo={id(m.extractor): m.extractor}) for k, m in self.base.items()}
        self._feed(metrics, fake, "fake")
        return {k: m.compute().to_dict() for k, m in metrics.items()}


def sample_and_time(pipe: Any, samples_per_class: int, cfg_scale: float, seed: int,
                    guide_scale: float = 1.0, guide_condition: str = "null") -> tuple[Any, dict[str, float]]:
    """The batch of samples and its timings: s/sample in the batch, and one sample alone.
    `guide_scale` != 1: autoguidance by the guide the pipeline has loaded (cfg_scale 1), under
    `guide_condition` ("null" or "prompt")."""
    names = [c for c in pipe.classes for _ in range(samples_per_class)]
    guidance = {"cfg_scale": cfg_scale, "guide_scale": guide_scale, "seed": seed}
    if guide_scale != 1.0:
        guidance["guide_condition"] = guide_condition
    pipe.sample([class_prompt(names[0])], **guidance)  # warm-up (allocations)
    began = time.perf_counter()
    pipe.sample([class_prompt(names[0])], **guidance)
    single = time.perf_counter() - began
    began = time.perf_counter()
    generated = pipe.sample([class_prompt(c) for c in names], **guidance)
    batch = time.perf_counter() - began
    return generated, {"s_per_sample_batched": round(batch / len(names), 4), "batch": len(names),
                       "s_one_sample": round(single, 4)}


def load_own_guide(pipe: Any, guide: Path, label: str) -> None:
    """Load a generator run's guide.ckpt into its pipeline, or say why it has none."""
    if not guide.is_file():
        raise UsageError(f"{label}: no {guide} for autoguidance: its config keeps no guide ([train.generator] "
                         "guide_fraction) or its run was resumed past the guide step; set guide_fraction in the "
                         "generator's config and delete the run folder to train it again, or sample with CFG")
    pipe.load_guide(guide)


def train_stage(cfg: ExperimentConfig, latents: Path, accelerator: str, say: Callable[[str], None], label: str) -> None:
    """Train a generator run on `latents` unless it holds all its steps; a run planned for other
    steps starts over (resuming would continue another schedule)."""

    run, steps = run_dir(cfg), cfg.train.generator.steps
    ckpt = run / "generator" / CHECKPOINT
    if finished(ckpt, steps):
        return
    resume = ckpt.is_file() and planned_steps(ckpt) == steps
    if ckpt.is_file() and not resume:
        say(f"{label}: {run} holds a run planned for {planned_steps(ckpt)} steps; starting over with {steps}")
    train_generator(cfg, Hardware(accelerator=accelerator), resume=resume, overwrite=not resume, latents_dir=latents)


def train_first_stage(peer: Compared, latents: Path, accelerator: str, say: Callable[[str], None]) -> dict[str, Any]:
    """The stage a peer's recipe trains before its generator run: its prior, or AV-DiT's backbone
    step; returns {stage, steps, train_minutes}."""

    if peer.first_stage == "prior":
        cfg, steps = peer.cfg, peer.cfg.train.prior.steps
        folder = run_dir(cfg) / "prior"
        if not finished(folder / CHECKPOINT, steps):
            say(f"{peer.label}: its prior first, {steps} steps")
            train_prior(cfg, Hardware(accelerator=accelerator), resume=(folder / CHECKPOINT).is_file(), latents_dir=latents)
    else:
        cfg, steps = peer.first, peer.first.train.generator.steps
        folder = run_dir(cfg) / "generator"
        say(f"{peer.label}: its backbone step first, {steps} steps in {run_dir(cfg)}")
        train_stage(cfg, latents, accelerator, say, f"{peer.label} backbone")
    curve = training_curve(folder / "metrics.csv")
    return {"stage": peer.first_stage, "steps": steps,
            "train_minutes": round(curve[-1]["train_s"] / 60, 2) if curve else None}


def compare(demo_cfg: ExperimentConfig, demo_path: str | Path, generators: Sequence[Compared], *,
            samples_per_class: int = 5, cfg_scale: float = 2.0, guide_scale: float = 1.0,
            guide_condition: str = "null", fvd: bool = True,
            fvd_real_clips: int = 64, accelerator: str = "cpu",
            say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or reuse) each generator on the demo's latents, sample, score; the report (module doc).

    `guide_scale` != 1: each generator's samples are autoguided by its own run's guide.ckpt
    (kept at [train.generator] guide_fraction, as the demo's are) in place of classifier-free
    guidance; cfg_scale must then be 1."""
    if guide_scale != 1.0 and cfg_scale != 1.0:
        raise UsageError(f"autoguidance (guide scale {guide_scale}) replaces classifier-free guidance: "
                         f"leave the CFG scale at 1 (got {cfg_scale})")

    cached, demo = demo_run(demo_cfg, demo_path)
    shape_params = {k: v for k, v in syncshapes_params(demo_cfg).items() if k in ("num_classes", "shape_size")}
    real = split_clips(cached, "test")
    train_real = split_clips(cached, "train")
    data = train_real + real  # the timing mix's reference: every clip (the generator learnt the training split's)
    report: dict[str, Any] = {"demo_run": str(demo), "held_out_clips": len(real), "samples_per_class": samples_per_class,
                              "cfg_scale": cfg_scale, "guide_scale": guide_scale,
                              "guide_condition": guide_condition if guide_scale != 1.0 else None,
                              "reference": {}, "generators": {}}
    say(f"references: shape_sync of {len(real)} held-out clips and shuffled pairs")
    report["reference"]["real clips"] = sync_figures(cached, real, shape_params)
    report["reference"]["shuffled real pairs"] = sync_figures(cached, shuffled(real), shape_params)
    say(f"the timing mix of the data: {len(data)} clips, training and held-out")
    data_judged = fed(metric(cached, "shape_sync", **shape_params), data, "real")  # each generator's reference
    report["reference"]["data timing mix"] = {
        "clips": len(data),
        "bounce_patterns": {k: round(v, 3) for k, v in data_judged.compute().details["real_bounce_patterns"].items()}}
    features = None
    if fvd:
        train_real = train_real[:fvd_real_clips]
        say(f"I3D features of {len(train_real)} training clips (the real side of the offline FVD)")
        features = VideoDistances(cached, train_real)
        report["reference"]["held-out clips"] = features(real)
    sheet: dict[str, list] = {c.class_name: [SheetRow("real", c.video, c.audio, "")] for c in real[::-1]}
    for peer in generators:
        label, cfg = peer.label, peer.cfg
        run = run_dir(cfg)
        ckpt = run / "generator" / CHECKPOINT
        steps = cfg.train.generator.steps
        say(f"[bold cyan]{label}[/]: {steps} steps in {run}")
        began = time.perf_counter()
        first = None if peer.first_stage is None else train_first_stage(peer, demo / "latents", accelerator, say)
        train_stage(cfg, demo / "latents", accelerator, say, label)
        curve = training_curve(run / "generator" / "metrics.csv")
        pipe = SamplingPipeline.from_checkpoint(cfg, ckpt, demo / "autoencoder" / CHECKPOINT)  # on its latents
        if guide_scale != 1.0:
            load_own_guide(pipe, run / "generator" / GUIDE_CHECKPOINT, label)
        generated, timing = sample_and_time(pipe, samples_per_class, cfg_scale, cfg.seed, guide_scale, guide_condition)
        mp4s = [p for p in write_samples(run / "samples", generated, cfg) if p.suffix == ".mp4"]
        fake = [Clip(*read_clip(p, cfg.clip), prompt_class(name), audio)
                for p, name, audio in zip(mp4s, generated.prompts, generated.audio)]
        gen = pipe.flow.generator
        describe = gen.describe() if hasattr(gen, "describe") else {}
        entry = {
            "config": peer.path, "generator": config_to_dict(cfg)["model"]["generator"], "steps": steps,
            "train_minutes": round(curve[-1]["train_s"] / 60, 2) if curve else None,
            "first_stage": first,
            "s_per_step": round(curve[-1]["train_s"] / curve[-1]["step"], 4) if curve else None,
            "final_loss": curve[-1]["loss"] if curve else None,
            "parameters": parameter_counts(gen),
            "tokens_per_sample": describe.get("tokens_per_sample"), "flops_per_sample": describe.get("flops_per_sample"),
            **timing, "shape_sync": sync_figures(cfg, fake, shape_params, reference=data_judged),
            "shuffled samples": sync_figures(cfg, shuffled(fake), shape_params), "curve": curve,
            "seconds_this_call": round(time.perf_counter() - began, 1),
        }
        chance = above_chance(entry["shape_sync"]["sync_f1"], entry["shuffled samples"]["sync_f1"])
        entry["sync_above_chance"] = None if chance is None else round(chance, 3)
        if features is not None:
            entry.update(features(fake))
        report["generators"][label] = entry
        say(f"{label}: {entry['shape_sync']}, {timing['s_per_sample_batched']} s/sample")
        for c in fake:
            rows = sheet.setdefault(c.class_name, [])
            if sum(r.label == label for r in rows) < 2:
                rows.append(SheetRow(label, c.video, c.audio, ""))
    report["contact_sheet"] = str(save_contact_sheet(demo.parent / f"{cached.name}-peers.png", list(sheet.items())))
    return report
