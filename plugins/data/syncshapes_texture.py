"""The noise texture of syncshapes mel images: what no predictor of a clip's content can know.

A syncshapes soundtrack is its class's hits at the bounce frames (deterministic but for a gain
and a 4 ms click) over stationary band noise, the class's ambience. `texture_floor` renders
clips of a config's test split again with their own hits (same onsets, gains and clicks) over
independent draws of the ambience noise and compares the draws' audio_repr images. Two draws
A, B of the same content differ by E|A - B|^2 = 2 Var(A | content), so the best prediction
from the content alone (its conditional mean) has MSE Var(A | content): its PSNR is the draws'
PSNR + 10 log10(2) dB, the content-only floor. An autoencoder above that floor has put part of
the particular noise draw into its latent.

`autoencoder_split` scores a trained autoencoder's reconstruction of draw A against A (the
usual held-out PSNR) and against B. Writing its output as the content's mean + a content error
c + a part n of A's noise: MSE(rec, B) = Var + |c|^2 + |n|^2 and MSE(rec, A) = Var + |c|^2 +
|n|^2 - 2 <n, noise_A>; with n the noise's projection (<n, noise_A> = |n|^2, as an MSE-optimal
code gives), both shares follow as fractions of Var (`variance_shares`): "noise_captured" =
|n|^2, "content_error" = |c|^2. benchmarks/bench_mel_texture.py prints both; the quality
benchmark reports them beside its mel PSNR.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import torch

from proav_core.build import build_component
from proav_core.data.timing import clip_sample_bounds
from proav_core.metrics.psnr import psnr
from proav_plugins.data.syncshapes_sound import class_voice, soundtrack

HALF_MSE_DB = 10 * math.log10(2)  # Var = E|A - B|^2 / 2


def ambience_draws(data: Any, rep: Any, index: int, draws: int) -> tuple[torch.Tensor, int, list[torch.Tensor]]:
    """Test clip `index` of a syncshapes dataset: its video (3, T, H, W), its label, and its
    soundtrack's audio_repr image (1, T, H, W) over `draws` ambience draws (the same hits)."""
    p, clip = data.params, data.clip
    video, _, events, label = data.generate("test", index)
    onsets = [clip_sample_bounds(clip)[k] for k in torch.nonzero(events).flatten().tolist()]
    images = []
    for draw in range(draws):  # the hits draw from gen alike each time; the ambience from its own
        wave = soundtrack(class_voice(label), onsets, clip.num_samples, clip.sample_rate, p.hit_level,
                          p.ambient_level, torch.Generator().manual_seed(index),
                          ambience_gen=torch.Generator().manual_seed(10_000 * (draw + 1) + index))  # (S,)
        images.append(rep.encode(wave[None]))  # (1, T, H, W)
    return video, label, images


def applies_to(cfg: Any) -> bool:
    """Whether a config's clips are syncshapes with an audio representation (what is measured here)."""
    return cfg.dataset is not None and cfg.dataset.name == "syncshapes" and cfg.audio_repr is not None


def texture_floor(cfg: Any, clips: int = 64, draws: int = 2) -> tuple[dict, float]:
    """Per class {"clips", "draws_psnr", "floor_psnr"} and "all" over every clip; the dataset's
    ambient_level."""
    if not applies_to(cfg):
        raise ValueError(f"{cfg.name}: [dataset] must be syncshapes, with an [audio_repr] (its soundtracks are "
                         "rendered here)")
    rep = build_component(cfg.audio_repr, clip=cfg.clip)
    data = build_component(cfg.dataset, "dataset", clip=cfg.clip, audio_repr=rep, split="test")
    per_class: dict[str, list[float]] = {}
    for index in range(min(clips, len(data))):
        _, label, mels = ambience_draws(data, rep, index, draws)
        pairs = [float(psnr(mels[i], mels[j])[0]) for i in range(draws) for j in range(i + 1, draws)]
        per_class.setdefault(data.classes[label], []).extend(pairs)
    out = {name: {"clips": len(v) * 2 // (draws * (draws - 1)), "draws_psnr": round(statistics.mean(v), 2),
                  "floor_psnr": round(statistics.mean(v) + HALF_MSE_DB, 2)} for name, v in sorted(per_class.items())}
    every = [x for v in per_class.values() for x in v]
    out["all"] = {"clips": sum(r["clips"] for r in out.values()), "draws_psnr": round(statistics.mean(every), 2),
                  "floor_psnr": round(statistics.mean(every) + HALF_MSE_DB, 2)}
    return out, data.params.ambient_level


def autoencoder_split(cfg: Any, run: Path, clips: int = 64) -> dict:
    """Per class (and "all"): the reconstruction's PSNR against its own draw and another draw,
    the two draws' PSNR and the floor (texture_floor's figures for two draws, from the same
    renders), and the shares of Var it captures (noise) and misses (content); see the module doc."""
    from proav_core import load_config
    from proav_core.training.encode import load_autoencoder  # here: the dataset plugin stays light

    ae_cfg = load_config(run / "autoencoder" / "config.toml")
    autoencoder = load_autoencoder(ae_cfg, run / "autoencoder" / "last.ckpt").eval()
    rep = build_component(ae_cfg.audio_repr, clip=ae_cfg.clip)
    data = build_component(cfg.dataset, "dataset", clip=ae_cfg.clip, audio_repr=rep, split="test")
    scores: dict[str, dict[str, list[float]]] = {}
    with torch.no_grad():
        for index in range(min(clips, len(data))):
            video, label, (mel_a, mel_b) = ambience_draws(data, rep, index, 2)
            _, rec = autoencoder.decode_latents(autoencoder.encode_latents(video[None], mel_a))  # rec (1, T, H, W)
            row = scores.setdefault(data.classes[label], {"own": [], "other": [], "draws": []})
            for key, (x, y) in {"own": (rec, mel_a), "other": (rec, mel_b), "draws": (mel_b, mel_a)}.items():
                row[key].append(float(psnr(x, y)[0]))
    scores["all"] = {k: [x for row in scores.values() for x in row[k]] for k in ("own", "other", "draws")}

    def row_shares(row: dict[str, list[float]]) -> dict[str, float]:
        own, other = statistics.mean(row["own"]), statistics.mean(row["other"])
        draws = statistics.mean(row["draws"])
        floor = draws + HALF_MSE_DB
        noise, content = variance_shares(own, other, floor)
        return {"clips": len(row["own"]), "recon_vs_own_draw": round(own, 2), "recon_vs_other_draw": round(other, 2),
                "draws_psnr": round(draws, 2), "floor_psnr": round(floor, 2), "noise_captured": round(noise, 3),
                "content_error": round(content, 3)}

    return {name: row_shares(row) for name, row in sorted(scores.items(), key=lambda kv: (kv[0] == "all", kv[0]))}


def floor_rows(split: dict) -> dict:
    """texture_floor's rows (per class and "all": clips, draws_psnr, floor_psnr) out of an
    autoencoder_split, which renders the same two draws per clip: no second rendering."""
    return {name: {k: row[k] for k in ("clips", "draws_psnr", "floor_psnr")} for name, row in split.items()}


def variance_shares(own_db: float, other_db: float, floor_db: float) -> tuple[float, float]:
    """(noise captured |n|^2, content error |c|^2) as fractions of the noise variance, from the
    reconstruction's PSNR against its own draw and another draw and the content-only floor."""
    against_b, against_a = 10 ** ((floor_db - other_db) / 10), 10 ** ((floor_db - own_db) / 10)  # MSE / Var
    noise = (against_b - against_a) / 2  # <n, noise_A> = |n|^2
    return noise, against_b - 1 - noise
