"""A finished demo run's generator sampled at several guidance settings and seeds, judged by shape_sync.

Nothing is trained: the run's generator/last.ckpt (and, for autoguidance, its guide.ckpt) is
sampled as `proav demo` samples it, one sample per class prompt and `--samples-per-class`
each, written as mp4 files and read back (as the demo's samples are judged). Per setting and
seed: the samples' shape_sync figures (single-object, whole- and steady-shape shares, class,
sync F1, the share of clips on the commonest bounce pattern and the overlap of their timing
mix with that of every clip of the run's data, as the demo reports it), the sync F1 of their
shuffled pairs (each sample's video with the next one's soundtrack: the samples' own chance
level) and sync above chance; per setting the mean, min and max over the seeds. One generator: a
setting's effect is measured on it, not on the recipe (training seeds differ more; see
bench_peers.py --seeds).

    .venv/bin/python benchmarks/bench_guidance.py [--config configs/demo.toml]
        [--guidance auto-prompt:1.5 auto:2 cfg:2 none] [--seeds 0 1 2] [--samples-per-class 24]
        [--set KEY=VALUE ...] [--generator CKPT] [--out benchmarks/measured/guidance-<name>.json]

Settings: `auto:S` autoguidance at scale S by the run's guide.ckpt under the null condition
(the demo's until 37a0057: auto:2), `auto-prompt:S` the same with the guide under the sample's
prompt (the demo's since: auto-prompt:1.5), `cfg:S` classifier-free guidance at scale S, `none`
neither. `--set`
applies to the config before sampling (e.g. `sampler.eta=1.0`, `sampler.steps=60`).
`--generator CKPT` samples another generator trained on the demo run's latents in place of the
demo's own, e.g. another training seed of the recipe: `proav train generator configs/demo.toml
--set name=demo-g-s1 --set seed=1 --latents runs/demo/latents`, then `--generator
runs/demo-g-s1/generator/last.ckpt`. The samples are decoded by the demo run's autoencoder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from rich.table import Table  # noqa: E402

from proav_core.benchmarking.quality import git_commit  # noqa: E402
from proav_core.benchmarking.report import run_script, spread, spread_text, write_report  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.config import load_config  # noqa: E402
from proav_core.errors import UsageError  # noqa: E402
from proav_core.machine import device_info  # noqa: E402

GUIDE_CONDITIONS = {"auto": "null", "auto-prompt": "prompt"}  # setting -> the guide's condition
FIGURES = ("single_object_share", "whole_shape_share", "steady_shape_share", "video_accuracy", "audio_accuracy",
           "sync_f1", "shuffled_sync_f1", "sync_above_chance", "modal_pattern_share", "pattern_overlap")
SHOWN = {"1 object": "single_object_share", "whole": "whole_shape_share", "steady": "steady_shape_share",
         "class v / a": ("video_accuracy", "audio_accuracy"), "sync F1": "sync_f1", "shuffled": "shuffled_sync_f1",
         "above chance": "sync_above_chance", "commonest pattern": "modal_pattern_share",
         "timing overlap": "pattern_overlap"}


def guidance_kwargs(spec: str) -> dict:
    """`auto:S`, `auto-prompt:S`, `cfg:S` or `none` -> SamplingPipeline.sample's guidance
    keywords; a UsageError naming --guidance for anything else."""
    kind, _, scale = spec.partition(":")
    try:
        value = float(scale) if scale else None
    except ValueError:
        value = None
    if kind == "none" and not scale:
        return {}
    if kind in GUIDE_CONDITIONS and value is not None and value > 0:
        return {"guide_scale": value, "guide_condition": GUIDE_CONDITIONS[kind]}
    if kind == "cfg" and value is not None and value > 0:
        return {"cfg_scale": value}
    raise UsageError(f"--guidance {spec}: give auto:SCALE (autoguidance, the guide under the null condition), "
                     "auto-prompt:SCALE (under the prompt), cfg:SCALE (classifier-free guidance) or none, with SCALE "
                     "a positive number (e.g. auto:2)")


def judged(cfg, clips, params: dict, data_patterns: dict[str, float]) -> dict:
    """shape_sync figures of `clips` and of their shuffled pairs, with sync above chance and the
    overlap of their timing mix with `data_patterns` (the data's bounce_patterns)."""
    from proav_core.demo_scores import above_chance, metric, scored, shuffled
    from proav_plugins.metrics.shape_sync_judge import pattern_overlap

    own = scored(metric(cfg, "shape_sync", **params), clips)
    chance = scored(metric(cfg, "shape_sync", **params), shuffled(clips)).value
    figures = {k: own.details.get(k) for k in FIGURES} | {"sync_f1": own.value, "shuffled_sync_f1": chance}
    figures["pattern_overlap"] = pattern_overlap(own.details["bounce_patterns"], data_patterns)
    figures["sync_above_chance"] = above_chance(own.value, chance)
    return {k: None if v is None else round(float(v), 4) for k, v in figures.items()}


def seed_spread(per_seed: list[dict]) -> dict:
    """Per figure the mean, min and max over the seeds (None where a seed has none)."""
    return {k: spread([p[k] for p in per_seed], digits=4) for k in FIGURES}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "demo.toml"))
    ap.add_argument("--guidance", nargs="+", default=["auto-prompt:1.5", "auto:2"], metavar="SETTING",
                    help="auto:SCALE, auto-prompt:SCALE, cfg:SCALE or none (default: auto-prompt:1.5, the demo's, "
                         "and auto:2, its earlier one)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="sampling seeds")
    ap.add_argument("--samples-per-class", type=int, default=24)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--generator", type=Path, default=None, metavar="CKPT",
                    help="sample this generator checkpoint, trained on the demo run's latents (its guide.ckpt beside "
                         "it), in place of the demo's own")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    settings = {spec: guidance_kwargs(spec) for spec in args.guidance}  # refused before anything is loaded

    from proav_core.benchmarking.tasks_eval import through_mp4
    from proav_core.data.synth import syncshapes_params
    from proav_core.demo import demo_configs
    from proav_core.demo_scores import Clip, fed, metric, split_clips
    from proav_core.generated import class_prompt
    from proav_core.sampling import SamplingPipeline
    from proav_core.training.common import CHECKPOINT, GUIDE_CHECKPOINT, run_dir

    base = load_config(args.config, overrides=args.overrides)
    params = {k: v for k, v in syncshapes_params(base).items() if k in ("num_classes", "shape_size")}
    _, cfg = demo_configs(base)
    run = run_dir(cfg)
    autoencoder = run / "autoencoder" / CHECKPOINT
    if not autoencoder.is_file() or not (run / "generator" / CHECKPOINT).is_file():
        raise UsageError(f"{run} holds no finished demo run; run `proav demo --config {args.config}` first")
    if args.generator is not None and not args.generator.is_file():
        raise UsageError(f"--generator {args.generator}: no such file; give a generator checkpoint trained on "
                         f"{run / 'latents'} (<run>/generator/last.ckpt)")
    ckpt = args.generator or run / "generator" / CHECKPOINT
    guide = ckpt.parent / GUIDE_CHECKPOINT
    if any("guide_scale" in kw for kw in settings.values()) and not guide.is_file():
        raise UsageError(f"--guidance auto...: {guide} is missing (the generator was trained without "
                         "[train.generator] guide_fraction); use cfg:SCALE or none")

    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt, autoencoder)  # the demo run's, wherever the run was encoded
    data = split_clips(cfg, "train") + split_clips(cfg, "test")  # every clip of the run's data, as the demo's
    data_patterns = fed(metric(cfg, "shape_sync", **params), data, "real").compute().details["real_bounce_patterns"]
    guide_step = pipe.load_guide(guide) if guide.is_file() else None
    names = [c for c in pipe.classes for _ in range(args.samples_per_class)]
    report = {"commit": git_commit(), "device": device_info(torch.device("cpu")), "config": args.config,
              "overrides": args.overrides, "generator": str(ckpt), "guide_step": guide_step,
              "autoencoder": str(autoencoder),
              "samples_per_class": args.samples_per_class, "seeds": args.seeds,
              "sampler": cfg.sampler.name if cfg.sampler else None, "data_clips": len(data),
              "data_bounce_patterns": {k: round(v, 3) for k, v in data_patterns.items()}, "settings": {}}
    for spec, kwargs in settings.items():
        per_seed = []
        for seed in args.seeds:
            began = time.perf_counter()
            out = pipe.sample([class_prompt(c) for c in names], seed=seed, **kwargs)
            seconds = time.perf_counter() - began
            with tempfile.TemporaryDirectory() as folder:
                clips = through_mp4([Clip(v, a, n) for v, a, n in zip(out.video, out.waveform, names)], cfg,
                                    Path(folder))
            per_seed.append({"seed": seed, "sample_s": round(seconds, 2), **judged(cfg, clips, params, data_patterns)})
            console.print(f"{spec}, seed {seed}: " + ", ".join(f"{k} {per_seed[-1][k]}" for k in FIGURES),
                          highlight=False)
        report["settings"][spec] = {"kwargs": kwargs, "per_seed": per_seed, **seed_spread(per_seed)}

    table = Table(title=f"{len(names)} samples per seed, seeds {', '.join(map(str, args.seeds))}: mean (min-max)")
    for col in ("guidance", *SHOWN):
        table.add_column(col)

    def cell(rep: dict, key: str | tuple) -> str:
        if isinstance(key, tuple):
            return " / ".join(cell(rep, k) for k in key)
        return spread_text(rep[key])

    for spec, rep in report["settings"].items():
        table.add_row(spec, *(cell(rep, key) for key in SHOWN.values()))
    console.print(table)
    path = Path(args.out or ROOT / "benchmarks" / "measured" / f"guidance-{base.name}.json")
    write_report(report, path)
    console.print(f"written {path}")
    return 0


if __name__ == "__main__":
    run_script(main, console)
