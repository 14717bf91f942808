"""Quality benchmark: train a config within a time budget on this machine, then measure what it
makes (proav_core.benchmarking.quality): held-out reconstruction PSNR and its curve against
training time, shape_sync and AV-Align of samples / real clips / shuffled pairs, the
targets, FVD and KVD with the offline I3D; for syncshapes, the mel PSNR's content-only floor and
the autoencoder's mel error split into captured noise and content error
(proav_plugins.data.syncshapes_texture). Prints tables and writes JSON.

    .venv/bin/python benchmarks/bench_quality.py configs/demo.toml --minutes 7
    .venv/bin/python benchmarks/bench_quality.py configs/quality_base.toml --minutes 60 --ae-share 0.75
        [--set KEY=VALUE ...] [--clips 128] [--samples-per-class 24] [--no-fvd]
        [--out benchmarks/measured/quality-<config name>.json]

The JSON holds the commit it was measured on; benchmarks/measured/ keeps the runs the README
quotes. The run folder is <output_dir>/<name>-quality (checkpoints, samples, contact sheet).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.table import Table  # noqa: E402

from proav_core.benchmarking.quality import run_quality  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.cli.demo_cmd import scores_table  # noqa: E402
from proav_core.config import load_config  # noqa: E402
from proav_core.interfaces.metrics import MetricResult  # noqa: E402
from proav_core.training.hardware import Hardware  # noqa: E402
from proav_plugins.data.syncshapes_texture import applies_to, autoencoder_split, floor_rows  # noqa: E402


def mel_texture(cfg, run: Path) -> dict:
    """The mel PSNR's content-only floor on this config's clips and the trained autoencoder's
    split of its mel error (proav_plugins.data.syncshapes_texture), printed and returned."""
    rows = autoencoder_split(cfg, run)
    floor = floor_rows(rows)  # from the same two draws per clip
    split = {k: v for k, v in rows["all"].items() if k not in ("clips", "draws_psnr")}
    console.print(f"mel: {split['recon_vs_own_draw']} dB on {rows['all']['clips']} re-rendered test clips; content-only "
                  f"floor {split['floor_psnr']} dB (the ambience's noise texture); the autoencoder holds "
                  f"{split['noise_captured']:.0%} of that noise, content error {split['content_error']:.0%} of it",
                  highlight=False)
    return {"content_floor": floor, "autoencoder": split}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--minutes", type=float, required=True, help="training budget, both loops together")
    ap.add_argument("--ae-share", type=float, default=0.6, help="share of the budget for the autoencoder")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--clips", type=int, default=128, help="syncshapes clips to synthesise")
    ap.add_argument("--samples-per-class", type=int, default=None, help="default: the demo's (24)")
    ap.add_argument("--cfg", type=float, default=2.0, help="guidance scale")
    ap.add_argument("--no-fvd", action="store_true", help="skip FVD/KVD (the I3D takes ~6 s per clip on a CPU)")
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/measured/quality-<name>.json)")
    args = ap.parse_args(argv)

    cfg = load_config(args.config, overrides=args.overrides)
    report = run_quality(cfg, Hardware(accelerator=args.accelerator), minutes=args.minutes, ae_share=args.ae_share,
                         clips=args.clips, samples_per_class=args.samples_per_class, cfg_scale=args.cfg,
                         fvd=not args.no_fvd, say=console.print)
    demo = report["demo"]
    curve = Table(title="held-out reconstruction PSNR against training time (autoencoder, EMA weights)")
    for column in ("step", "train s", "video dB", "mel dB"):
        curve.add_column(column, justify="right")
    for row in report["autoencoder_curve"]:
        curve.add_row(str(row["step"]), f"{row['train_s']:.0f}", f"{row.get('val/video_psnr', float('nan')):.2f}",
                      f"{row.get('val/audio_psnr', float('nan')):.2f}")
    console.print(curve)
    scores = {s: {m: MetricResult(**{k: v for k, v in r.items() if k != "available"}) for m, r in by.items()}
              for s, by in demo["scores"].items()}
    console.print(scores_table(scores))
    above = demo.get("sync_above_chance", {})
    console.print(f"sync above chance, (F1 - shuffled) / (1 - shuffled): samples {above.get('samples')} (against "
                  f"shuffled samples), real clips {above.get('real clips')} (against shuffled real pairs)",
                  highlight=False)
    for name, t in demo["targets"].items():
        console.print(f"{'met ' if t['met'] else 'MISS'}  {name}: {t['value']} (threshold {t['threshold']})",
                      highlight=False)
    for name, r in report.get("video_distances", {}).items():
        console.print(f"{name.upper()}: {r['value']} ({r['num_real']} real, {r['num_fake']} generated clips)",
                      highlight=False)
    console.print(f"seconds per stage: {demo['seconds']}; total {report['total_seconds']} s", highlight=False)
    if applies_to(cfg):
        report["mel_texture"] = mel_texture(cfg, Path(demo["run"]))
    out = Path(args.out or ROOT / "benchmarks" / "measured" / f"quality-{cfg.name}.json")
    write_report(report, out)
    console.print(f"JSON: {out}", highlight=False)
    return 0


if __name__ == "__main__":
    run_script(main, console)
