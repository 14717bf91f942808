"""How much of a syncshapes mel image is noise texture that no predictor of its content can know.

    .venv/bin/python benchmarks/bench_mel_texture.py [configs/quality_base.toml] [--clips 96]
        [--draws 2] [--run RUN_DIR] [--out benchmarks/measured/mel-texture-<name>.json]

See proav_plugins.data.syncshapes_texture for the method: per class the PSNR of two ambience
draws of the same clip and the content-only floor (+10 log10 2 dB); with `--run` (a folder
holding autoencoder/config.toml and autoencoder/last.ckpt) that autoencoder's mel error split
into captured noise and content error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proav_core import load_config  # noqa: E402
from proav_core.benchmarking.quality import git_commit  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_plugins.data.syncshapes_texture import autoencoder_split, floor_rows, texture_floor  # noqa: E402


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
    split = None if args.run is None else autoencoder_split(cfg, args.run, args.clips)
    if split is not None and args.draws == 2:  # the split rendered these two draws per clip already
        per_class, level = floor_rows(split), cfg.dataset.params.ambient_level
    else:
        per_class, level = texture_floor(cfg, args.clips, args.draws)
    print(f"{cfg.name}: mel images {cfg.clip.frames} x {cfg.clip.height} x {cfg.clip.width}, ambient_level {level}")
    print(f"{'class':<18} {'clips':>5} {'two draws (dB)':>15} {'content-only floor (dB)':>24}")
    for name, row in per_class.items():
        print(f"{name:<18} {row['clips']:>5} {row['draws_psnr']:>15.2f} {row['floor_psnr']:>24.2f}")
    report = {"commit": git_commit(), "config": args.config, "draws": args.draws, "ambient_level": level,
              "what": "PSNR of two mel_frames images of the same clip content over independent ambience-noise draws, "
                      "and the content-only floor (+10 log10 2 dB): the PSNR of the best prediction from the content",
              "per_class": per_class}
    if split is not None:
        print(f"autoencoder {args.run}: mel PSNR against its own draw / another draw; shares of the noise variance")
        print(f"{'class':<18} {'own':>6} {'other':>6} {'floor':>6} {'noise captured':>15} {'content error':>14}")
        for name, row in split.items():
            print(f"{name:<18} {row['recon_vs_own_draw']:>6.2f} {row['recon_vs_other_draw']:>6.2f} "
                  f"{row['floor_psnr']:>6.2f} {row['noise_captured']:>15.3f} {row['content_error']:>14.3f}")
        report["autoencoder"] = {"run": str(args.run), "per_class": split}
    out = Path(args.out or ROOT / "benchmarks" / "measured" / f"mel-texture-{cfg.name}.json")
    write_report(report, out)
    print(f"JSON: {out}")


if __name__ == "__main__":
    run_script(main)
