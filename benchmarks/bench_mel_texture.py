"""How much of a syncshapes mel image is noise texture that no predictor of its content can know.

    .venv/bin/python benchmarks/bench_mel_texture.py [configs/quality_base.toml] [--clips 96]
        [--draws 2] [--run RUN_DIR] [--out benchmarks/measured/mel-texture-<name>.json]

A syncshapes soundtrack is its class's hits at the bounce frames (deterministic but for a gain
and a 4 ms click) over stationary band noise, the class's ambience. Each clip of the config's
test split is rendered again with its own hits (same onsets, gains and clicks) over `--draws`
independent draws of the ambience noise, and the draws' mel_frames images are compared. Two
draws A, B of the same content differ by E|A - B|^2 = 2 Var(A | content), so the best
prediction from the content alone (its conditional mean) has MSE Var(A | content): its PSNR
is the draws' PSNR + 10 log10(2) dB. An autoencoder that scores above that floor has put part
of the particular noise draw into its latent; to score far above it, it must encode the noise.
Per class: the draws' PSNR and the floor (mean over clips, dB; data range 2 as held_out_psnr).

With `--run` (a folder holding autoencoder/config.toml and autoencoder/last.ckpt), that
autoencoder reconstructs each clip (its video with draw A's mel) and its mel is scored against
A (the usual held-out PSNR) and against B. Writing its output as the content's mean + a content
error c + a part n of A's noise: MSE(rec, B) = Var + |c|^2 + |n|^2 and MSE(rec, A) = Var +
|c|^2 + |n|^2 - 2 <n, noise_A>; taking n as a projection of A's noise (<n, noise_A> = |n|^2),
both shares follow, as fractions of Var: "noise_captured" = |n|^2, "content_error" = |c|^2.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proav_core import load_config  # noqa: E402
from proav_core.benchmarking.quality import git_commit  # noqa: E402
from proav_core.build import build_component  # noqa: E402
from proav_core.data.timing import clip_sample_bounds  # noqa: E402
from proav_core.metrics.psnr import psnr  # noqa: E402
from proav_plugins.data.syncshapes_sound import class_voice, soundtrack  # noqa: E402

HALF_MSE_DB = 10 * math.log10(2)  # Var = E|A - B|^2 / 2


def texture_floor(cfg, clips: int, draws: int) -> tuple[dict, float]:
    """Per class {"clips", "draws_psnr", "floor_psnr"} and "all" over every clip; the dataset's
    ambient_level."""
    if cfg.dataset is None or cfg.dataset.name != "syncshapes":
        raise SystemExit(f"{cfg.name}: [dataset] must be syncshapes (its soundtracks are rendered here)")
    rep = build_component(cfg.audio_repr, clip=cfg.clip)
    data = build_component(cfg.dataset, "dataset", clip=cfg.clip, audio_repr=rep, split="test")
    p, clip = data.params, cfg.clip
    bounds = clip_sample_bounds(clip)
    per_class: dict[str, list[float]] = {}
    for index in range(min(clips, len(data))):
        _, _, events, label = data.generate("test", index)
        onsets = [bounds[k] for k in torch.nonzero(events).flatten().tolist()]
        mels = []
        for draw in range(draws):  # the same hits (gen), another ambience draw each time
            wave = soundtrack(class_voice(label), onsets, clip.num_samples, clip.sample_rate, p.hit_level,
                              p.ambient_level, torch.Generator().manual_seed(index),
                              ambience_gen=torch.Generator().manual_seed(10_000 * (draw + 1) + index))  # (S,)
            mels.append(rep.encode(wave[None]))  # (1, T, H, W)
        pairs = [float(psnr(mels[i], mels[j])[0]) for i in range(draws) for j in range(i + 1, draws)]
        per_class.setdefault(data.classes[label], []).extend(pairs)
    out = {name: {"clips": len(v) * 2 // (draws * (draws - 1)), "draws_psnr": round(statistics.mean(v), 2),
                  "floor_psnr": round(statistics.mean(v) + HALF_MSE_DB, 2)} for name, v in sorted(per_class.items())}
    every = [x for v in per_class.values() for x in v]
    out["all"] = {"clips": sum(r["clips"] for r in out.values()), "draws_psnr": round(statistics.mean(every), 2),
                  "floor_psnr": round(statistics.mean(every) + HALF_MSE_DB, 2)}
    return out, p.ambient_level


def autoencoder_split(cfg, run: Path, clips: int) -> dict:
    """Per class (and "all"): the reconstruction's PSNR against its own draw and another draw,
    the floor, and the shares of Var it captures (noise) and misses (content); see the module doc."""
    from proav_core.training.encode import load_autoencoder

    ae_cfg = load_config(run / "autoencoder" / "config.toml")
    autoencoder = load_autoencoder(ae_cfg, run / "autoencoder" / "last.ckpt").eval()
    rep = build_component(ae_cfg.audio_repr, clip=ae_cfg.clip)
    data = build_component(cfg.dataset, "dataset", clip=ae_cfg.clip, audio_repr=rep, split="test")
    p, clip = data.params, ae_cfg.clip
    bounds = clip_sample_bounds(clip)
    scores: dict[str, dict[str, list[float]]] = {}
    with torch.no_grad():
        for index in range(min(clips, len(data))):
            video, _, events, label = data.generate("test", index)
            onsets = [bounds[k] for k in torch.nonzero(events).flatten().tolist()]
            mel_a, mel_b = (rep.encode(soundtrack(
                class_voice(label), onsets, clip.num_samples, clip.sample_rate, p.hit_level, p.ambient_level,
                torch.Generator().manual_seed(index), ambience_gen=torch.Generator().manual_seed(10_000 * d + index)
            )[None]) for d in (1, 2))  # (1, T, H, W) each
            _, rec = autoencoder.decode_latents(autoencoder.encode_latents(video[None], mel_a))
            row = scores.setdefault(data.classes[label], {"own": [], "other": [], "draws": []})
            for key, (x, y) in {"own": (rec, mel_a), "other": (rec, mel_b), "draws": (mel_b, mel_a)}.items():
                row[key].append(float(psnr(x, y)[0]))
    scores["all"] = {k: [x for row in scores.values() for x in row[k]] for k in ("own", "other", "draws")}

    def row_shares(row: dict[str, list[float]]) -> dict[str, float]:
        own, other = statistics.mean(row["own"]), statistics.mean(row["other"])
        floor = statistics.mean(row["draws"]) + HALF_MSE_DB
        noise, content = variance_shares(own, other, floor)
        return {"recon_vs_own_draw": round(own, 2), "recon_vs_other_draw": round(other, 2),
                "floor_psnr": round(floor, 2), "noise_captured": round(noise, 3), "content_error": round(content, 3)}

    return {name: row_shares(row) for name, row in sorted(scores.items(), key=lambda kv: (kv[0] == "all", kv[0]))}


def variance_shares(own_db: float, other_db: float, floor_db: float) -> tuple[float, float]:
    """(noise captured |n|^2, content error |c|^2) as fractions of the noise variance, from the
    reconstruction's PSNR against its own draw and another draw and the content-only floor."""
    against_b, against_a = 10 ** ((floor_db - other_db) / 10), 10 ** ((floor_db - own_db) / 10)  # MSE / Var
    noise = (against_b - against_a) / 2  # <n, noise_A> = |n|^2
    return noise, against_b - 1 - noise


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default="configs/quality_base.toml")
    ap.add_argument("--clips", type=int, default=96, help="test clips rendered (spread over the classes)")
    ap.add_argument("--draws", type=int, default=2, help="ambience draws per clip (>= 2)")
    ap.add_argument("--run", type=Path, default=None, help="an autoencoder run folder (autoencoder/config.toml, "
                    "autoencoder/last.ckpt) to split into content error and captured noise")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.draws < 2:
        raise SystemExit("--draws: at least 2 (the floor comes from comparing draws)")
    cfg = load_config(args.config)
    per_class, level = texture_floor(cfg, args.clips, args.draws)
    print(f"{cfg.name}: mel images {cfg.clip.frames} x {cfg.clip.height} x {cfg.clip.width}, ambient_level {level}")
    print(f"{'class':<18} {'clips':>5} {'two draws (dB)':>15} {'content-only floor (dB)':>24}")
    for name, row in per_class.items():
        print(f"{name:<18} {row['clips']:>5} {row['draws_psnr']:>15.2f} {row['floor_psnr']:>24.2f}")
    report = {"commit": git_commit(), "config": args.config, "draws": args.draws, "ambient_level": level,
              "what": "PSNR of two mel_frames images of the same clip content over independent ambience-noise draws, "
                      "and the content-only floor (+10 log10 2 dB): the PSNR of the best prediction from the content",
              "per_class": per_class}
    if args.run is not None:
        split = autoencoder_split(cfg, args.run, args.clips)
        print(f"autoencoder {args.run}: mel PSNR against its own draw / another draw; shares of the noise variance")
        print(f"{'class':<18} {'own':>6} {'other':>6} {'floor':>6} {'noise captured':>15} {'content error':>14}")
        for name, row in split.items():
            print(f"{name:<18} {row['recon_vs_own_draw']:>6.2f} {row['recon_vs_other_draw']:>6.2f} "
                  f"{row['floor_psnr']:>6.2f} {row['noise_captured']:>15.3f} {row['content_error']:>14.3f}")
        report["autoencoder"] = {"run": str(args.run), "per_class": split}
    out = Path(args.out or ROOT / "benchmarks" / "measured" / f"mel-texture-{cfg.name}.json")
    out.write_text(json_dump(report))
    print(f"JSON: {out}")


def json_dump(report: dict) -> str:
    import json

    return json.dumps(report, indent=2) + "\n"


if __name__ == "__main__":
    main()
