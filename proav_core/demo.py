"""`proav demo`: the embedded default end to end on syncshapes.

Stages (each resumes where an interrupted run stopped):
  1. synthesise syncshapes clips as real mp4 files in class folders   <run>/data
  2. prepare them into a sharded cache (video_folder -> prepared)       <run>/prepared
  3. train the autoencoder (two stages)                                 <run>/autoencoder
  4. encode the training clips into latents                            <run>/latents
  5. train the generator on the latents                                 <run>/generator
  6. sample every class, written as mp4 + wav + PNGs                    <run>/samples
  7. score: the autoencoder's PSNR on held-out clips; AV-Align and the syncshapes ground-truth
     score (shape_sync) of the samples (read back from their mp4s), of held-out real clips,
     of shuffled real pairs and of shuffled samples (each sample's video with another's
     soundtrack: the samples' chance level); the quality targets they are held to
  8. conditional tasks: one held-out clip's soundtrack animated (a2v), another's video scored
     (v2a), zero-shot unless the generator was trained for them, prompted with the class the
     checkpoint's probe reads from the given side (CFG 2)            <run>/tasks/a2v_*, v2a_*
  9. a contact sheet: per class, real clips above generated ones, then the a2v and v2a
     examples                                                          <run>/contact_sheet.png
Everything measured goes to <run>/demo_summary.json.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from proav_core.build import build_component
from proav_core.config import ExperimentConfig, config_from_dict, config_to_dict
from proav_core.demo_scores import (Clip, metric, score_set, shuffled, split_clips, sync_above_chance, targets,
                                    task_examples, write_contact_sheet)
from proav_core.errors import UsageError
from proav_core.interfaces.metrics import MetricResult
from proav_core.training.common import CHECKPOINT, GUIDE_CHECKPOINT, run_dir
from proav_core.machine import device_info
from proav_core.training.hardware import Hardware, device_type

TEST_FRACTION = 0.15
# The demo's samples: autoguidance at 1.5 with the guide under the sample's prompt (Karras et al.'s
# form). Measured against the null condition at 2 (the demo's from 2be4ef1 to 49d3a20) on three
# generators of the recipe, three sampling seeds each: steady shapes 0.959 against 0.926, sync F1
# 0.963 against 0.947, above chance 0.891 against 0.855, class >= 0.99 either way, timing overlap
# 0.835 against 0.830 (docs/quality.md, "Guidance and steady shapes").
GUIDE_CONDITION = "prompt"
GUIDE_SCALE = 1.5
# Samples per class the demo scores: 96 in all. With 32, the sync F1 of one generator moved by
# up to 0.11 between sampling seeds (0.75 / 0.86 / 0.76); 16 moved the one-object share by +-0.1.
SAMPLES_PER_CLASS = 24


@dataclass
class DemoResult:
    run: Path
    seconds: dict[str, float] = field(default_factory=dict)
    scores: dict[str, dict[str, MetricResult]] = field(default_factory=dict)  # set -> metric -> result
    reconstruction: dict[str, float] = field(default_factory=dict)
    targets: dict[str, dict] = field(default_factory=dict)
    sync_above_chance: dict[str, float | None] = field(default_factory=dict)  # samples, real clips
    samples: list[Path] = field(default_factory=list)
    tasks: dict[str, Any] = field(default_factory=dict)  # a2v / v2a example -> what shape_sync saw
    contact_sheet: Path | None = None
    guidance: dict[str, Any] = field(default_factory=dict)  # how the samples were guided
    compile: dict[str, str | None] = field(default_factory=dict)  # stage -> torch.compile scope (None: eager)
    machine: dict[str, Any] = field(default_factory=dict)  # what the stages ran on (proav_core.machine.device_info)

    def to_json(self) -> dict[str, Any]:
        return {"run": str(self.run), "seconds": self.seconds, "reconstruction": self.reconstruction,
                "scores": {s: {m: r.to_dict() for m, r in by.items()} for s, by in self.scores.items()},
                "targets": self.targets, "sync_above_chance": self.sync_above_chance,
                "guidance": self.guidance, "compile": self.compile, "machine": self.machine,
                "samples": [str(p) for p in self.samples], "tasks": self.tasks,
                "contact_sheet": None if self.contact_sheet is None else str(self.contact_sheet)}


def demo_configs(cfg: ExperimentConfig) -> tuple[ExperimentConfig, ExperimentConfig]:
    """(config that reads the synthesised files, config that trains from the prepared cache);
    the config's own [dataset] (syncshapes) says how to synthesise."""
    tree, run = config_to_dict(cfg), run_dir(cfg)
    files = {**tree, "dataset": {"name": "video_folder", "root": str(run / "data"), "test_fraction": TEST_FRACTION}}
    cached = {**tree, "dataset": {"name": "prepared", "root": str(run / "prepared")}}
    return config_from_dict(files, source="demo (files)"), config_from_dict(cached, source="demo")


def finished(checkpoint: Path, steps: int) -> bool:
    """A stage whose checkpoint already holds all its steps is done: it is not loaded to resume
    (so a finished run of an older proav whose optimiser state no longer loads still counts)."""
    from proav_core.training.checkpoint import peek_checkpoint

    return checkpoint.is_file() and int(peek_checkpoint(checkpoint).get("step", -1)) >= steps


def generator_stage(cfg: ExperimentConfig, hardware: Hardware, latents: Path,
                    say: Callable[[str], None] = print) -> Path:
    """Train the generator of `cfg` on the latent cache `latents` unless its checkpoint already
    holds all the steps: an interrupted run resumes; one trained on other latents (left by an
    earlier autoencoder) starts anew, saying so. Returns the checkpoint."""
    from proav_core.training.common import CHECKPOINT, run_dir
    from proav_core.training.generator_loop import train_generator, trained_on
    from proav_core.training.latent_cache import LatentDataset

    ckpt = run_dir(cfg) / "generator" / CHECKPOINT
    stale = ckpt.is_file() and not trained_on(ckpt, LatentDataset(latents).normalizer())
    if stale:
        say(f"{ckpt} was trained on other latents (an earlier autoencoder's): training the generator anew")
    if stale or not finished(ckpt, cfg.train.generator.steps):
        train_generator(cfg, hardware, resume=ckpt.is_file() and not stale, overwrite=stale, latents_dir=latents)
    return ckpt


def refuse_another_config(run: Path, cfg: ExperimentConfig) -> None:
    """A resumed demo must find its own run: a stage checkpoint in `run` written for other
    components (an earlier config or proav version) is refused before anything is written."""
    from proav_core.training.checkpoint import component_differences, component_names, peek_checkpoint

    for stage, prefix in (("autoencoder", "model.autoencoder"), ("generator", "model.generator")):
        checkpoint = run / stage / CHECKPOINT
        diff = component_differences(peek_checkpoint(checkpoint), component_names(cfg), prefix) \
            if checkpoint.is_file() else []
        if diff:
            raise UsageError(f"{run} holds a demo run of another config (an earlier one, or an earlier proav): "
                             f"{checkpoint} was written for other components ({'; '.join(diff)}); rerun with "
                             "--fresh to start the demo over, or keep that run and give this one another folder "
                             "(--set name=...)")


def synthesise_clips(folder: Path, clips: int, clip: Any, params: dict[str, Any]) -> None:
    """Write `clips` syncshapes clips into `folder` unless it already holds exactly those: a
    folder written for another [clip] is an error (resuming would train on the wrong clips)."""
    from proav_core.data.synth import EVENTS_FILE, synthesize

    events = folder / EVENTS_FILE
    if events.is_file():
        record = json.loads(events.read_text())
        if record.get("clip") != clip.model_dump():
            raise UsageError(f"{events} holds clips of {record.get('clip')}, but the config's [clip] is "
                             f"{clip.model_dump()}; start over with --fresh (deletes {folder.parent}) or give the "
                             "config another name")
        if len(record["files"]) == clips:
            return
    synthesize(folder, clips, clip, params)


def generator_compile(requested: bool | None, hardware: Hardware, say: Callable[[str], None] = print) -> str | None:
    """The compile scope of the demo's generator training: "network" unless `requested` is False
    (None: where torch.compile runs here, else eager with a note; True: required). The whole
    network, as measured on the demo's batch of 32 (docs/demo-runs.md, "Compiled generator");
    the autoencoder stays eager (compiled, its step was slower)."""
    from proav_core.compiling import compile_unavailable, require_compile
    from proav_core.training.hardware import device_type

    if requested is False:
        return None
    device = device_type(hardware.accelerator)
    if requested:
        require_compile(device)
    elif reason := compile_unavailable(device):
        from rich.markup import escape

        say(f"[yellow]note: torch.compile cannot run on {device} here ({escape(reason)}); the generator trains eagerly "
            "(a C++ compiler, gcc or clang, lets it compile: about 1.2x faster)[/]")
        return None
    return "network"


def run_demo(cfg: ExperimentConfig, hardware: Hardware, *, clips: int = 128, samples_per_class: int = SAMPLES_PER_CLASS,
             cfg_scale: float = 2.0, guide_scale: float = GUIDE_SCALE, fresh: bool = False,
             say: Callable[[str], None] = print) -> DemoResult:
    """Run every stage; `fresh` deletes the run folder first (otherwise each stage resumes).

    The samples are guided by autoguidance (`guide_scale`, the generator's guide.ckpt under its
    null condition) when the config keeps a guide ([train.generator] guide_fraction), else by
    classifier-free guidance (`cfg_scale`). `hardware.compile_scope` applies to the generator's
    training alone (generator_compile)."""
    from proav_core.data import read_clip
    from proav_core.data.prepare import prepare
    from proav_core.data.synth import syncshapes_params
    from proav_core.generated import class_prompt, write_samples
    from proav_core.sampling import SamplingPipeline
    from proav_core.training.autoencoder_loop import held_out_psnr, train_autoencoder
    from proav_core.training.encode import encode_dataset, load_autoencoder

    run = run_dir(cfg)
    synth_params = syncshapes_params(cfg)  # before anything is deleted or written
    shape_sync_params = {k: synth_params[k] for k in ("num_classes", "shape_size") if k in synth_params}
    if fresh and run.exists():
        shutil.rmtree(run)
    refuse_another_config(run, cfg)
    result = DemoResult(run)
    result.machine = device_info(torch.device(device_type(hardware.accelerator)))
    files_cfg, cfg = demo_configs(cfg)

    @contextmanager
    def stage(name: str, what: str) -> Iterator[None]:
        say(f"[bold cyan]{name}[/]: {what}")
        start = time.perf_counter()
        yield
        result.seconds[name] = round(time.perf_counter() - start, 1)

    with stage("synthesise", f"{clips} syncshapes clips as mp4 files in {run / 'data'}"):
        synthesise_clips(run / "data", clips, cfg.clip, synth_params)
    with stage("prepare", f"decode, mel_frames, shard into {run / 'prepared'}"):
        held_out = prepare(files_cfg, run / "prepared")["test"].clips
    if held_out < 2:  # before any training: one clip cannot be shuffled against another
        raise UsageError(f"--clips {clips} leaves {held_out} held-out clip(s) ({TEST_FRACTION:.0%} of the files); "
                         "shuffled real pairs and the a2v / v2a examples need at least 2: give more --clips "
                         "(the default is 128)")
    eager = replace(hardware, compile_scope=None)
    with stage("train autoencoder", f"{cfg.train.autoencoder.steps} steps"):
        if not finished(run / "autoencoder" / CHECKPOINT, cfg.train.autoencoder.steps):
            train_autoencoder(cfg, eager, resume=(run / "autoencoder" / CHECKPOINT).is_file())
    with stage("encode", f"latents into {run / 'latents'}"):
        encode_dataset(cfg, eager)
    compiled = f", compiled ({hardware.compile_scope})" if hardware.compile_scope else ""
    with stage("train generator", f"{cfg.train.generator.steps} steps{compiled}"):
        generator_stage(cfg, hardware, run / "latents", say)
    result.compile = {"generator": hardware.compile_scope}
    guide, guide_step = run / "generator" / GUIDE_CHECKPOINT, cfg.train.generator.guide_step
    if guide_step is not None and not guide.is_file():
        say(f"[yellow]no {guide} (the generator was trained without guide_fraction): classifier-free guidance instead[/]")
    autoguide = guide_step is not None and guide.is_file()
    if autoguide:
        guided = {"guide_scale": guide_scale, "guide_condition": GUIDE_CONDITION}
        result.guidance = {"kind": "autoguidance", "scale": guide_scale, "guide": str(guide),
                           "guide_condition": GUIDE_CONDITION}
    else:
        guided = {"cfg_scale": cfg_scale}
        result.guidance = {"kind": "classifier-free", "scale": cfg_scale}
    how = (f"autoguidance {guide_scale:g} (guide: {guide.name}, {GUIDE_CONDITION} condition)" if autoguide
           else f"CFG {cfg_scale:g}")
    with stage("sample", f"{samples_per_class} per class, {cfg.sampler.params.steps if cfg.sampler else 30}-step "
                         f"sampler, {how}"):
        pipe = SamplingPipeline.from_checkpoint(cfg, run / "generator" / CHECKPOINT)
        if autoguide:
            result.guidance["guide_step"] = pipe.load_guide(guide)
        names = [c for c in pipe.classes for _ in range(samples_per_class)]
        generated = pipe.sample([class_prompt(c) for c in names], seed=cfg.seed, **guided)
        written = write_samples(run / "samples", generated, cfg)
        result.samples = [p for p in written if p.suffix == ".mp4"]
    with stage("score", "held-out reconstruction; AV-Align and shape_sync of samples (read back from mp4), "
                        "held-out real clips and shuffled real pairs; the timing mix of every clip"):
        test = build_component(cfg.dataset, clip=cfg.clip, split="test")
        real = split_clips(cfg, "test")
        data = split_clips(cfg, "train") + real
        fake = []
        for path, name, audio in zip(result.samples, names, generated.audio):
            video, waveform = read_clip(path, cfg.clip)
            fake.append(Clip(video, waveform, name, audio))
        psnr = held_out_psnr(load_autoencoder(cfg), test, len(test), torch.device("cpu"))(0)
        result.reconstruction = {k.removeprefix("val/"): round(v, 2) for k, v in psnr.items()}
        sets = {"samples": fake, "real clips": real, "shuffled real pairs": shuffled(real),
                "shuffled samples": shuffled(fake)}
        # the samples' timing mix against every clip of the data (the generator learnt the training
        # split's; the 19 held-out clips alone give a noisy mix: 32 % on frames 2 and 6, the 128 clips 46 %)
        result.scores = {k: score_set(cfg, v, shape_sync_params, reference=data if k == "samples" else ())
                         for k, v in sets.items()}
        result.targets = targets(result.scores, result.reconstruction)
        result.sync_above_chance = sync_above_chance(result.scores)
    with stage("a2v and v2a", "one held-out clip's soundtrack animated, another's video scored"):
        judge = metric(cfg, "shape_sync", **shape_sync_params).judge
        result.tasks, task_rows = task_examples(pipe, real, judge, run / "tasks")
    with stage("contact sheet", f"real above generated clips per class: {run / 'contact_sheet.png'}"):
        result.contact_sheet = write_contact_sheet(run / "contact_sheet.png", cfg, real, fake, shape_sync_params,
                                                   extra=task_rows)
    (run / "demo_summary.json").write_text(json.dumps(result.to_json(), indent=2))
    return result
