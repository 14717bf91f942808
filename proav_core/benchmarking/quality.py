"""The quality benchmark: what a config makes in a given time on this machine.

`run_quality(cfg, hardware, minutes=...)`:
1. calibrate: seconds per autoencoder step and per generator step at the loops' batch
   sizes (proav bench's workloads on synthetic batches);
2. share the budget between the two loops (`ae_share` to the autoencoder) and set their step
   counts from it, with a held-out evaluation of the autoencoder about every tenth of its run
   (the PSNR-versus-training-time curve);
3. run the demo's pipeline in <output_dir>/<name>-quality (synthesise, prepare, train both,
   encode, sample, score, contact sheet);
4. FVD and KVD of the samples against the held-out real clips with the offline I3D (few
   clips: a figure to compare runs of this benchmark with, not published FVDs);
5. return one JSON-ready report: commit, budget, steps, s/step, the curve, held-out PSNR,
   shape_sync and AV-Align of samples / real clips / shuffled pairs, the targets, FVD, KVD
   and the seconds of every stage.
"""

from __future__ import annotations

import csv
import datetime
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from proav_core.build import build
from proav_core.config import ExperimentConfig, config_from_dict, config_to_dict
from proav_core.errors import UsageError
from proav_core.training.hardware import Hardware


def git_commit(root: Path | None = None) -> str | None:
    """HEAD's hash (with '+dirty' when the tree has changes), or None outside a git checkout."""
    cwd = root or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def calibrate(cfg: ExperimentConfig, hardware: Hardware,
              parts: tuple[str, ...] = ("autoencoder", "generator")) -> dict[str, float]:
    """Median seconds per training step: {"autoencoder": stage 1 (or the one stage), "generator": ...}."""
    from proav_core.benchmarking import BenchSettings, run_benchmarks

    out = {}
    for part, loop, keys in (("autoencoder", cfg.train.autoencoder, ("ae_step_stage1", "ae_step")),
                             ("generator", cfg.train.generator, ("generator_step",))):
        if part not in parts:
            continue
        skip = ("generator", "sample") if part == "autoencoder" else ("autoencoder", "sample")
        settings = BenchSettings(accelerator=hardware.accelerator, precision=hardware.precision,
                                 batch_size=loop.batch_size, flops=False, repeats=3, skip=skip)
        rows = {r["key"]: r for r in run_benchmarks(cfg, settings)["rows"]}
        found = [rows[k] for k in keys if k in rows]
        if not found:
            raise UsageError(f"could not time a {part} step for {cfg.name}: the config lacks what it needs")
        out[part] = float(found[0]["seconds"]["median"])
    return out


def budget_config(cfg: ExperimentConfig, seconds_per_step: dict[str, float], minutes: float, ae_share: float,
                  evaluations: int = 10) -> ExperimentConfig:
    """The config with each loop's steps set to fill its share of `minutes`, checkpoints and a
    held-out evaluation about every 1/`evaluations` of the autoencoder's run."""
    if not 0 < ae_share < 1:
        raise UsageError(f"--ae-share must lie strictly between 0 and 1, got {ae_share}")
    tree = config_to_dict(cfg)
    budget = {"autoencoder": minutes * 60 * ae_share, "generator": minutes * 60 * (1 - ae_share)}
    for part, seconds in budget.items():
        steps = max(20, int(seconds / seconds_per_step[part]))
        loop = tree.setdefault("train", {}).setdefault(part, {})
        loop["steps"] = steps
        loop["checkpoint_every"] = max(1, steps // 4)
        if part == "autoencoder":
            loop["eval_every"] = max(1, steps // evaluations)
    tree["name"] = f"{cfg.name}-quality"
    return config_from_dict(tree, source=f"{cfg.name} (quality benchmark, {minutes:g} min)")


def autoencoder_curve(metrics_csv: Path) -> list[dict[str, float]]:
    """Rows of the autoencoder's metrics.csv that carry a held-out evaluation: step, training
    seconds, val PSNR per modality."""
    with metrics_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k.startswith("val/")]
    return [{"step": int(r["step"]), "train_s": float(r["train_s"]), **{k: round(float(r[k]), 3) for k in keys}}
            for r in rows if any(r.get(k) for k in keys)]


def video_distances(cfg: ExperimentConfig, real: list[Any], fake: list[Any]) -> dict[str, Any]:
    """FVD and KVD (offline I3D) of generated against real clips (lists of demo_scores.Clip)."""
    out = {}
    for name in ("fvd", "kvd"):
        metric = build("metric", name, clip=cfg.clip)
        for role, clips in (("real", real), ("fake", fake)):
            for c in clips:
                metric.update({"video": c.video[None]}, role=role)
        out[name] = metric.compute().to_dict()
    return out


def run_quality(cfg: ExperimentConfig, hardware: Hardware, *, minutes: float, ae_share: float = 0.6,
                clips: int = 128, samples_per_class: int = 4, cfg_scale: float = 2.0, fvd: bool = True,
                say: Callable[[str], None] = print) -> dict[str, Any]:
    """Calibrate, train within the budget, sample and score; returns the report (see the module doc)."""
    from proav_core.demo import run_demo
    from proav_core.demo_scores import Clip

    started = time.perf_counter()
    say(f"calibrating the step time of {cfg.name}")
    per_step = calibrate(cfg, hardware)
    run_cfg = budget_config(cfg, per_step, minutes, ae_share)
    say(f"budget {minutes:g} min: autoencoder {run_cfg.train.autoencoder.steps} steps, "
        f"generator {run_cfg.train.generator.steps} steps")
    result = run_demo(run_cfg, hardware, clips=clips, samples_per_class=samples_per_class, cfg_scale=cfg_scale,
                      fresh=True, say=say)
    report: dict[str, Any] = {
        "config": cfg.name, "commit": git_commit(), "minutes": minutes, "ae_share": ae_share,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
        "seconds_per_step": per_step,
        "steps": {"autoencoder": run_cfg.train.autoencoder.steps, "generator": run_cfg.train.generator.steps},
        "demo": result.to_json(),
        "autoencoder_curve": autoencoder_curve(result.run / "autoencoder" / "metrics.csv"),
    }
    if fvd:
        from proav_core.build import build_component
        from proav_core.data import read_clip
        from proav_core.demo import demo_configs

        say("FVD and KVD with the offline I3D (about 6 s per clip on a 2-core CPU)")
        _, cached = demo_configs(run_cfg)
        test = build_component(cached.dataset, clip=cached.clip, split="test")
        real = [Clip(it["video"], it["waveform"], "") for it in map(test.__getitem__, range(len(test)))]
        fake = [Clip(*read_clip(p, cached.clip), "") for p in result.samples]
        report["video_distances"] = video_distances(cached, real, fake)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def run_reconstruction(cfg: ExperimentConfig, hardware: Hardware, *, minutes: float, evaluations: int = 10,
                       stage2_share: float | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The benchmark's reconstruction part: train only the autoencoder of `cfg` (on its own
    dataset, which needs a test split) for `minutes`, from scratch; returns seconds per step,
    steps, the held-out PSNR curve and the final held-out PSNR of the EMA weights.
    `stage2_share` puts the loss's stage 2 (disc_start) at that share of the end of the run."""
    from proav_core.build import build_component
    from proav_core.training.autoencoder_loop import held_out_psnr, train_autoencoder
    from proav_core.training.common import run_dir
    from proav_core.training.encode import load_autoencoder

    per_step = calibrate(cfg, hardware, parts=("autoencoder",))["autoencoder"]
    steps = max(20, int(minutes * 60 / per_step))
    tree = config_to_dict(cfg)
    loop = tree.setdefault("train", {}).setdefault("autoencoder", {})
    loop.update(steps=steps, checkpoint_every=max(1, steps // 4), eval_every=max(1, steps // evaluations))
    if stage2_share is not None:
        tree["model"]["autoencoder"].setdefault("loss", {})["disc_start"] = int(steps * (1 - stage2_share))
    run_cfg = config_from_dict(tree, source=f"{cfg.name} (reconstruction benchmark, {minutes:g} min)")
    say(f"{cfg.name}: {per_step:.3f} s/step -> {steps} autoencoder steps in {minutes:g} min")
    started = time.perf_counter()
    train_autoencoder(run_cfg, hardware, overwrite=True)
    seconds = time.perf_counter() - started
    audio_repr = None if run_cfg.audio_repr is None else build_component(run_cfg.audio_repr, clip=run_cfg.clip)
    test = build_component(run_cfg.dataset, clip=run_cfg.clip, audio_repr=audio_repr, split="test")
    final = held_out_psnr(load_autoencoder(run_cfg), test, len(test), torch.device("cpu"))(steps)
    return {"config": cfg.name, "minutes": minutes, "seconds_per_step": per_step, "steps": steps,
            "stage2_from": tree["model"]["autoencoder"].get("loss", {}).get("disc_start"),
            "seconds": round(seconds, 1), "held_out_clips": len(test),
            "curve": autoencoder_curve(run_dir(run_cfg) / "autoencoder" / "metrics.csv"),
            "final": {k.removeprefix("val/"): round(v, 2) for k, v in final.items()}}
