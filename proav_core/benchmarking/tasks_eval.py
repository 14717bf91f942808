"""Judging audio-to-video and video-to-audio on syncshapes held-out clips with `shape_sync`.

For each held-out clip i (video V_i, soundtrack A_i, class c_i):
    a2v   generate video G_i from A_i; judge the pair (G_i, A_i): the bounces of the generated
          video against the onsets of the given audio, its class against the audio's timbre
    v2a   generate audio S_i from V_i; judge (V_i, S_i) the same way
Beside them: the shuffled-condition baseline, each output judged against the condition of
another clip ((G_i, A_{i+1}) and (V_{i+1}, S_i)), and the real pairs (V_i, A_i).
Every judged pair goes through an mp4 file and back, as the demo's samples do.

Figures per set: sync_f1 (the headline), av_class_agreement (the generated side's class equals
the given side's), the generated side's class against the clip's label, single_object_share,
whole_shape_share, steady_shape_share.
Per task also sync_above_chance: the outputs' sync F1 above the shuffled-condition baseline,
(F1 - baseline) / (1 - baseline) (demo_scores.above_chance); over several seeds, of the means.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from proav_core.demo_scores import Clip, above_chance, metric

FIGURES = ("sync_f1", "av_class_agreement", "video_accuracy", "audio_accuracy", "single_object_share",
           "whole_shape_share", "steady_shape_share", "bounces_per_clip", "onsets_per_clip", "background_saturation")


def through_mp4(clips: list[Clip], cfg: Any, folder: Path) -> list[Clip]:
    """Each clip written as an mp4 (H.264 + AAC) and read back, as sampled files are judged."""
    from proav_core.data import read_clip
    from proav_core.data.writers import write_mp4

    out = []
    for i, c in enumerate(clips):
        path = write_mp4(folder / f"clip_{i:04d}.mp4", c.video, cfg.clip.fps, c.waveform, cfg.clip.sample_rate)
        video, waveform = read_clip(path, cfg.clip)
        out.append(Clip(video, waveform, c.class_name, c.audio))
    return out


def judge_set(cfg: Any, clips: list[Clip], shape_sync_params: dict[str, Any], folder: Path) -> dict[str, Any]:
    """shape_sync's summary of a clip set (read back from mp4), the FIGURES only."""
    m = metric(cfg, "shape_sync", **shape_sync_params)
    for c in through_mp4(clips, cfg, folder):
        m.update({"video": c.video[None], "waveform": c.waveform[None], "class_name": [c.class_name]}, role="fake")
    result = m.compute()
    details = {**result.details, "sync_f1": result.value}
    return {k: None if details.get(k) is None else round(float(details[k]), 3) for k in FIGURES}


def add_above_chance(report: dict[str, Any]) -> dict[str, Any]:
    """Sets report[task]["sync_above_chance"] for a2v and v2a from the task's generated and
    shuffled-condition sync F1 (None where either is missing); returns the report."""
    for task in ("a2v", "v2a"):
        chance = above_chance(report[task]["generated"]["sync_f1"], report[task]["shuffled condition"]["sync_f1"])
        report[task]["sync_above_chance"] = None if chance is None else round(chance, 3)
    return report


def shifted(items: list[Any]) -> list[Any]:
    """items[i + 1 mod n] at position i: the condition of another clip."""
    return items[1:] + items[:1]


def evaluate_tasks(pipe: Any, real: list[Clip], shape_sync_params: dict[str, Any], *, hold: str = "auto",
                   seed: int = 0, cfg_scale: float = 1.0, batch: int = 16, given_label: str = "probe",
                   guide_scale: float = 1.0) -> dict[str, Any]:
    """a2v and v2a on the held-out clips `real` with `pipe` (a SamplingPipeline), no prompts:
    `given_label` says what prompts them (SamplingPipeline.sample); `guide_scale` != 1:
    autoguidance by the guide loaded into `pipe` (load_guide).

    -> {"a2v": {"generated": figures, "shuffled condition": figures, "mode": ..., "seconds": ...},
        "v2a": {...}, "real pairs": figures}. Also returns the generated clips under "clips"
    (for a contact sheet): {"a2v": [Clip], "v2a": [Clip]}.
    """
    cfg = pipe.cfg
    waves = torch.stack([c.waveform for c in real])  # (N, S)
    videos = torch.stack([c.video for c in real])  # (N, 3, T, H, W)
    report: dict[str, Any] = {"clips": len(real), "hold": hold, "seed": seed, "cfg_scale": cfg_scale,
                              "guide_scale": guide_scale, "given_label": given_label}
    made: dict[str, list[Clip]] = {}
    with tempfile.TemporaryDirectory(prefix="proav-tasks-") as tmp:
        folder = Path(tmp)
        for task in ("a2v", "v2a"):
            began = time.perf_counter()
            clips, mode = [], ""
            for lo in range(0, len(real), batch):
                part = slice(lo, lo + batch)
                side = {"audio": waves[part]} if task == "a2v" else {"video": videos[part]}
                out = pipe.sample(task=task, hold=hold, seed=seed + lo, cfg_scale=cfg_scale, given_label=given_label,
                                  guide_scale=guide_scale, **side)
                mode = out.mode
                for k, c in enumerate(real[part]):
                    if task == "a2v":  # generated video, given soundtrack
                        clips.append(Clip(out.video[k], c.waveform, c.class_name, c.audio))
                    else:  # given video, generated soundtrack
                        clips.append(Clip(c.video, out.waveform[k], c.class_name, out.audio[k]))
            seconds = time.perf_counter() - began
            if task == "a2v":
                baseline = [Clip(g.video, a.waveform, g.class_name, a.audio) for g, a in zip(clips, shifted(real))]
            else:
                baseline = [Clip(v.video, g.waveform, g.class_name, g.audio) for g, v in zip(clips, shifted(real))]
            report[task] = {"mode": mode, "seconds": round(seconds, 1),
                            "generated": judge_set(cfg, clips, shape_sync_params, folder),
                            "shuffled condition": judge_set(cfg, baseline, shape_sync_params, folder)}
            made[task] = clips
        report["real pairs"] = judge_set(cfg, real, shape_sync_params, folder)
    report["clips_made"] = made
    return add_above_chance(report)


def mean_over_seeds(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from `evaluate_tasks` reports of the same model at several sampling seeds
    (clips_made dropped): every figure of every set is the mean over the seeds (None where a
    seed had none), "seeds" lists them and "per_seed" keeps each seed's figures."""
    if not reports:
        raise ValueError("mean_over_seeds needs at least one report")

    def mean(values: list[Any]) -> float | None:
        return None if None in values else round(sum(values) / len(values), 3)

    def sets(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {f"{task}/{which}": r[task][which] for task in ("a2v", "v2a")
                for which in ("generated", "shuffled condition")} | {"real pairs": r["real pairs"]}

    first = reports[0]
    out: dict[str, Any] = {k: v for k, v in first.items() if k not in ("a2v", "v2a", "real pairs", "clips_made", "seed")}
    out["seeds"] = [r["seed"] for r in reports]
    out["per_seed"] = [{"seed": r["seed"], **sets(r)} for r in reports]
    for task in ("a2v", "v2a"):
        out[task] = {"mode": first[task]["mode"], "seconds": round(sum(r[task]["seconds"] for r in reports), 1)}
        for which in ("generated", "shuffled condition"):
            out[task][which] = {k: mean([r[task][which][k] for r in reports]) for k in FIGURES}
    out["real pairs"] = {k: mean([r["real pairs"][k] for r in reports]) for k in FIGURES}
    return add_above_chance(out)


def task_targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets: per task, sync F1 >= 0.8 x real pairs' and >= 2 x shuffled condition's;
    class agreement >= 0.9."""
    real = report["real pairs"]["sync_f1"]
    out = {}
    for task in ("a2v", "v2a"):
        gen, base = report[task]["generated"], report[task]["shuffled condition"]
        checks = {f"{task} sync F1 >= 0.8 x real pairs'": (gen["sync_f1"], 0.8 * real),
                  f"{task} sync F1 >= 2 x shuffled condition's": (gen["sync_f1"], 2 * base["sync_f1"]),
                  f"{task} class agreement >= 0.9": (gen["av_class_agreement"], 0.9)}
        out |= {name: {"value": v, "threshold": round(t, 3), "met": v is not None and v >= t}
                for name, (v, t) in checks.items()}
    return out

