"""`proav demo`: the embedded default end to end on syncshapes.

Stages (each resumes where an interrupted run stopped):
  1. synthesise syncshapes clips as real mp4 files in class folders   <run>/data
  2. prepare them into a sharded cache (video_folder -> prepared)       <run>/prepared
  3. train the autoencoder (two stages)                                 <run>/autoencoder
  4. encode the training clips into latents                            <run>/latents
  5. train the generator on the latents                                 <run>/generator
  6. sample every class, written as mp4 + wav + PNGs                    <run>/samples
  7. AV-Align of the samples, of held-out real clips, and of shuffled real pairs
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from proav_core.build import build, build_component
from proav_core.config import ExperimentConfig, config_from_dict, config_to_dict
from proav_core.interfaces.metrics import MetricResult
from proav_core.training.common import CHECKPOINT, run_dir
from proav_core.training.hardware import Hardware

TEST_FRACTION = 0.15


@dataclass
class DemoResult:
    run: Path
    seconds: dict[str, float] = field(default_factory=dict)
    av_align: dict[str, MetricResult] = field(default_factory=dict)
    samples: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"run": str(self.run), "seconds": self.seconds,
                "av_align": {k: v.to_dict() for k, v in self.av_align.items()},
                "samples": [str(p) for p in self.samples]}


def demo_configs(cfg: ExperimentConfig) -> tuple[ExperimentConfig, ExperimentConfig]:
    """(config that reads the synthesised files, config that trains from the prepared cache);
    the config's own [dataset] (syncshapes) says how to synthesise."""
    tree, run = config_to_dict(cfg), run_dir(cfg)
    files = {**tree, "dataset": {"name": "video_folder", "root": str(run / "data"), "test_fraction": TEST_FRACTION}}
    cached = {**tree, "dataset": {"name": "prepared", "root": str(run / "prepared")}}
    return config_from_dict(files, source="demo (files)"), config_from_dict(cached, source="demo")


def av_align_of(cfg: ExperimentConfig, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> MetricResult:
    """AV-Align over (video (3, T, H, W), waveform (S,)) pairs, with the config's settings."""
    sections = [m for m in cfg.metrics if m.name == "av_align"]
    metric = (build_component(sections[0], clip=cfg.clip) if sections
              else build("metric", "av_align", clip=cfg.clip))
    for video, waveform in pairs:
        metric.update({"video": video[None], "waveform": waveform[None]}, role="fake")
    return metric.compute()


def run_demo(cfg: ExperimentConfig, hardware: Hardware, *, clips: int = 128, samples_per_class: int = 4,
             cfg_scale: float = 2.0, fresh: bool = False, say: Callable[[str], None] = print) -> DemoResult:
    """Run every stage; `fresh` deletes the run folder first (otherwise each stage resumes)."""
    from proav_core.data import list_media_files, read_clip
    from proav_core.data.prepare import prepare
    from proav_core.data.synth import EVENTS_FILE, synthesize
    from proav_core.sampling import SamplingPipeline, write_samples
    from proav_core.training.autoencoder_loop import train_autoencoder
    from proav_core.training.encode import encode_dataset
    from proav_core.training.generator_loop import train_generator

    from proav_core.data.synth import syncshapes_params

    run = run_dir(cfg)
    synth_params = syncshapes_params(cfg)  # before anything is deleted or written
    if fresh and run.exists():
        shutil.rmtree(run)
    result = DemoResult(run)
    files_cfg, cfg = demo_configs(cfg)

    @contextmanager
    def stage(name: str, what: str) -> Iterator[None]:
        say(f"[bold cyan]{name}[/]: {what}")
        start = time.perf_counter()
        yield
        result.seconds[name] = round(time.perf_counter() - start, 1)

    with stage("synthesise", f"{clips} syncshapes clips as mp4 files in {run / 'data'}"):
        events = run / "data" / EVENTS_FILE
        if not (events.is_file() and len(json.loads(events.read_text())["files"]) == clips):
            synthesize(run / "data", clips, cfg.clip, synth_params)
    with stage("prepare", f"decode, mel_frames, shard into {run / 'prepared'}"):
        prepare(files_cfg, run / "prepared")
    with stage("train autoencoder", f"{cfg.train.autoencoder.steps} steps"):
        train_autoencoder(cfg, hardware, resume=(run / "autoencoder" / CHECKPOINT).is_file())
    with stage("encode", f"latents into {run / 'latents'}"):
        encode_dataset(cfg, hardware)
    with stage("train generator", f"{cfg.train.generator.steps} steps"):
        train_generator(cfg, hardware, resume=(run / "generator" / CHECKPOINT).is_file())
    with stage("sample", f"{samples_per_class} per class, 30-step reflected flow, CFG {cfg_scale}"):
        pipe = SamplingPipeline.from_checkpoint(cfg, run / "generator" / CHECKPOINT)
        prompts = [p for p in pipe.default_prompts() for _ in range(samples_per_class)]
        generated = pipe.sample(prompts, cfg_scale=cfg_scale, seed=cfg.seed)
        for old in (run / "samples").glob("sample_*"):
            old.unlink()
        write_samples(run / "samples", generated, cfg)
        result.samples = list_media_files(run / "samples")
    with stage("AV-Align", "samples (read back from mp4), held-out real clips, shuffled real pairs"):
        fake = [read_clip(path, cfg.clip) for path in result.samples]
        test = build_component(cfg.dataset, clip=cfg.clip, split="test")
        real = [(item["video"], item["waveform"]) for item in map(test.__getitem__, range(len(test)))]
        shuffled = [(real[i][0], real[(i + 1) % len(real)][1]) for i in range(len(real))]
        result.av_align = {"samples": av_align_of(cfg, fake), "real clips": av_align_of(cfg, real),
                           "shuffled real pairs": av_align_of(cfg, shuffled)}
    (run / "demo_summary.json").write_text(json.dumps(result.to_json(), indent=2))
    return result
