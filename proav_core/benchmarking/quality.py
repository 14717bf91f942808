"""The quality benchmark: what a config makes in a given time on this machine.

`run_quality(cfg, hardware, minutes=...)`:
1. synthesise and prepare the clips, then calibrate: seconds per step of the real training
   loops (a few dozen steps of each in a scratch folder);
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
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from proav_core.build import build
from proav_core.config import ExperimentConfig, config_from_dict, config_to_dict
from proav_core.errors import UsageError
from proav_core.machine import device_info
from proav_core.training.hardware import Hardware, device_type


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


def loop_seconds_per_step(metrics_csv: Path, skip: int = 10) -> float:
    """Seconds per step of a training run, from the train_s column of its metrics.csv, over the
    steps after the first `skip` (start-up excluded)."""
    with metrics_csv.open(newline="") as f:
        rows = [(int(r["step"]), float(r["train_s"])) for r in csv.DictReader(f) if r.get("train_s")]
    later = [r for r in rows if r[0] >= skip]
    if len(later) < 2:
        raise UsageError(f"{metrics_csv}: too few logged steps after step {skip} to time the loop")
    (s0, t0), (s1, t1) = later[0], later[-1]
    return (t1 - t0) / (s1 - s0)


def calibrate(cfg: ExperimentConfig, hardware: Hardware, parts: tuple[str, ...] = ("autoencoder", "generator"),
              steps: int = 30, skip: int = 10) -> dict[str, float]:
    """Seconds per step of the real training loops (data, EMA and logging included) on the
    config's own dataset: `steps` steps of each part in a scratch folder (the generator on the
    latents of that scratch autoencoder), timed after the first `skip`. Stage 1 is timed; a
    config whose stage 2 builds discriminators pays more per step from disc_start."""
    from proav_core.training.autoencoder_loop import train_autoencoder
    from proav_core.training.common import run_dir
    from proav_core.training.encode import encode_dataset
    from proav_core.training.generator_loop import train_generator

    with tempfile.TemporaryDirectory(prefix="proav-calibrate-") as tmp:
        tree = {**config_to_dict(cfg), "output_dir": tmp, "name": "calibration"}
        for part in ("autoencoder", "generator"):
            tree.setdefault("train", {}).setdefault(part, {}).update(
                steps=steps, checkpoint_every=steps, log_every=5, eval_every=0)
        scratch = config_from_dict(tree, source=f"{cfg.name} (step-time calibration)")
        train_autoencoder(scratch, hardware)
        if "generator" in parts:
            encode_dataset(scratch, hardware)
            train_generator(scratch, hardware)
        return {part: loop_seconds_per_step(run_dir(scratch) / part / "metrics.csv", skip) for part in parts}


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
    return config_from_dict(tree, source=f"{cfg.name} (quality benchmark, {minutes:g} min)")


def autoencoder_curve(metrics_csv: Path) -> list[dict[str, float]]:
    """Rows of the autoencoder's metrics.csv that carry a held-out evaluation: step, training
    seconds, val PSNR per modality, and beside it "train/<modality>_psnr": the mean PSNR of the
    training batches logged since the previous evaluation (the gap between the two shows when the
    autoencoder starts fitting its training clips better than held-out ones)."""
    with metrics_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    header = rows[0] if rows else {}
    keys = [k for k in header if k.startswith("val/")]
    batch_keys = [k for k in ("video/psnr", "audio/psnr") if k in header]
    curve, since = [], []
    for r in rows:
        since.append(r)
        if not any(r.get(k) for k in keys):
            continue
        point = {"step": int(r["step"]), "train_s": float(r["train_s"]), **{k: round(float(r[k]), 3) for k in keys}}
        for k in batch_keys:
            logged = [float(b[k]) for b in since if b.get(k)]
            if logged:
                point[f"train/{k.replace('/', '_')}"] = round(sum(logged) / len(logged), 3)
        curve.append(point)
        since = []
    return curve


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
                clips: int = 128, samples_per_class: int | None = None, cfg_scale: float = 2.0, fvd: bool = True,
                say: Callable[[str], None] = print) -> dict[str, Any]:
    """Calibrate, train within the budget, sample and score; returns the report (see the module doc)."""
    from proav_core.build import build_component
    from proav_core.data import read_clip
    from proav_core.data.prepare import prepare
    from proav_core.data.synth import syncshapes_params
    from proav_core.demo import SAMPLES_PER_CLASS, demo_configs, run_demo, synthesise_clips
    from proav_core.demo_scores import Clip
    from proav_core.training.common import run_dir

    started = time.perf_counter()
    cfg = config_from_dict({**config_to_dict(cfg), "name": f"{cfg.name}-quality"}, source=f"{cfg.name} (quality)")
    run = run_dir(cfg)
    if run.exists():
        shutil.rmtree(run)
    say(f"synthesising and preparing {clips} clips in {run}")
    files_cfg, cached = demo_configs(cfg)
    synthesise_clips(run / "data", clips, cfg.clip, syncshapes_params(cfg))
    prepare(files_cfg, run / "prepared")
    say(f"calibrating the step times of {cfg.name}'s training loops on those clips")
    per_step = calibrate(cached, hardware)
    run_cfg = budget_config(cfg, per_step, minutes, ae_share)
    say(f"budget {minutes:g} min: autoencoder {run_cfg.train.autoencoder.steps} steps, "
        f"generator {run_cfg.train.generator.steps} steps")
    per_class = samples_per_class or SAMPLES_PER_CLASS
    result = run_demo(run_cfg, hardware, clips=clips, samples_per_class=per_class, cfg_scale=cfg_scale,
                      say=say)
    report: dict[str, Any] = {
        "config": cfg.name, "commit": git_commit(), "minutes": minutes, "ae_share": ae_share,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device_info(torch.device(device_type(hardware.accelerator))),
        "seconds_per_step": per_step,
        "steps": {"autoencoder": run_cfg.train.autoencoder.steps, "generator": run_cfg.train.generator.steps},
        "demo": result.to_json(),
        "autoencoder_curve": autoencoder_curve(result.run / "autoencoder" / "metrics.csv"),
    }
    if fvd:
        say("FVD and KVD with the offline I3D (about 6 s per clip on a 2-core CPU)")
        test = build_component(cached.dataset, clip=cached.clip, split="test")
        real = [Clip(it["video"], it["waveform"], "") for it in map(test.__getitem__, range(len(test)))]
        fake = [Clip(*read_clip(p, cached.clip), "") for p in result.samples]
        report["video_distances"] = video_distances(cached, real, fake)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


BUDGET_KEYS = ("steps", "checkpoint_every", "eval_every")  # the [train.autoencoder] keys a budget sets


def _without_budget(tree: dict[str, Any]) -> dict[str, Any]:
    """A config tree without what a reconstruction budget sets (step counts, disc_start)."""
    tree = {**tree, "train": {**tree.get("train", {})}, "model": {**tree.get("model", {})}}
    tree["train"]["autoencoder"] = {k: v for k, v in tree["train"].get("autoencoder", {}).items()
                                    if k not in BUDGET_KEYS}
    ae = tree["model"]["autoencoder"] = {**tree["model"].get("autoencoder", {})}
    ae["loss"] = {k: v for k, v in ae.get("loss", {}).items() if k != "disc_start"}
    return tree


def interrupted_run(cfg: ExperimentConfig, directory: Path) -> ExperimentConfig | None:
    """The config of the reconstruction run left in `directory` (its autoencoder stage folder)
    when that run is `cfg`'s under some budget (steps, disc_start); None when the folder holds no
    checkpoint; a UsageError when it holds another run's."""
    from proav_core.config import load_config
    from proav_core.training.common import CHECKPOINT

    saved = directory / "config.toml"
    if not (directory / CHECKPOINT).is_file() or not saved.is_file():
        return None
    before = load_config(saved)
    if _without_budget(config_to_dict(before)) != _without_budget(config_to_dict(cfg)):
        raise UsageError(f"{directory} holds the checkpoint of another run than {cfg.name}'s (its config.toml differs "
                         "beyond the step counts); delete that folder, or start over (bench_ablations.py --fresh)")
    return before


def run_reconstruction(cfg: ExperimentConfig, hardware: Hardware, *, minutes: float | None = None,
                       steps: int | None = None, evaluations: int = 10, stage2_share: float | None = None,
                       resume: bool = False, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The benchmark's reconstruction part: train only the autoencoder of `cfg` (on its own
    dataset, which needs a test split) for `minutes` (steps calibrated on this machine) or for
    exactly `steps` (one of the two: the same run on any machine, to compare a change with a
    run made on another), from scratch; returns seconds per step, steps, the held-out PSNR curve
    and the final held-out PSNR of the EMA weights, overall and per class.
    `stage2_share` puts the loss's stage 2 (disc_start) at that share of the end of the run.
    With `resume`, a run of `cfg` left in its folder by an interruption continues from its last
    checkpoint with the steps it was given (`interrupted_run`); its seconds then count its
    training over every session."""
    from proav_core.build import build_component
    from proav_core.training.autoencoder_loop import psnr_report, train_autoencoder
    from proav_core.training.common import run_dir
    from proav_core.training.encode import load_autoencoder

    if (minutes is None) == (steps is None):
        raise ValueError("run_reconstruction: give minutes or steps, one of the two")
    directory = run_dir(cfg) / "autoencoder"
    interrupted = interrupted_run(cfg, directory) if resume else None
    if interrupted is not None:
        run_cfg, steps = interrupted, interrupted.train.autoencoder.steps
        say(f"{cfg.name}: resuming its run of {steps} autoencoder steps ({directory})")
    else:
        if steps is None:
            per_step = calibrate(cfg, hardware, parts=("autoencoder",))["autoencoder"]
            steps = max(20, int(minutes * 60 / per_step))
        tree = config_to_dict(cfg)
        loop = tree.setdefault("train", {}).setdefault("autoencoder", {})
        loop.update(steps=steps, checkpoint_every=max(1, steps // 4), eval_every=max(1, steps // evaluations))
        if stage2_share is not None:
            tree["model"]["autoencoder"].setdefault("loss", {})["disc_start"] = int(steps * (1 - stage2_share))
        budget = f"{steps} steps" if minutes is None else f"{minutes:g} min"
        run_cfg = config_from_dict(tree, source=f"{cfg.name} (reconstruction benchmark, {budget})")
        say(f"{cfg.name}: {steps} autoencoder steps" if minutes is None
            else f"{cfg.name}: {per_step:.3f} s/step -> {steps} autoencoder steps in {budget}")
    started = time.perf_counter()
    train_autoencoder(run_cfg, hardware, resume=interrupted is not None, overwrite=interrupted is None)
    seconds = time.perf_counter() - started
    curve = autoencoder_curve(directory / "metrics.csv")
    if interrupted is not None and curve:
        seconds = curve[-1]["train_s"]  # training time carried over the resumes
    if minutes is None or interrupted is not None:  # what the run took, evaluations and checkpoints included
        per_step = seconds / steps
    audio_repr = None if run_cfg.audio_repr is None else build_component(run_cfg.audio_repr, clip=run_cfg.clip)
    test = build_component(run_cfg.dataset, clip=run_cfg.clip, audio_repr=audio_repr, split="test")
    final, per_class = psnr_report(load_autoencoder(run_cfg), test, torch.device("cpu"))
    return {"config": cfg.name, "minutes": minutes, "seconds_per_step": per_step, "steps": steps,
            "stage2_from": config_to_dict(run_cfg)["model"]["autoencoder"].get("loss", {}).get("disc_start"),
            "seconds": round(seconds, 1), "held_out_clips": len(test), "resumed": interrupted is not None,
            "curve": curve, "final": {k: round(v, 2) for k, v in final.items()}, "final_per_class": per_class}
