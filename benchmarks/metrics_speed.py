"""Speed of the evaluation metrics on this machine: prints a table and writes JSON.

    .venv/bin/python benchmarks/metrics_speed.py [--out benchmarks/results/metrics_speed.json]

Measures: Fréchet distance (symmetric eigh vs scipy sqrtm at D = 400, eigh at 2048); the I3D
extractor (seconds per 16-frame clip, and the implied time for one 2048-clip FVD set);
AV-Align per clip (2 s at 24 fps, 128^2 and 256^2); log-mel statistics per clip.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from proav_core.benchmarking.measure import time_calls
from proav_core.benchmarking.report import run_script, write_report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "metrics" / "fixtures"))


def timed(fn, repeat: int = 3) -> float:
    """Best wall-clock seconds of `repeat` calls (after one warm-up call)."""
    return min(time_calls(fn, torch.device("cpu"), warmup=1, repeats=repeat))


def bench_frechet(out: dict) -> None:
    from proav_core.metrics.frechet import frechet_distance

    rng = np.random.default_rng(0)
    for d, methods in ((400, ("eigh", "sqrtm")), (2048, ("eigh",))):  # sqrtm at 2048: ~16 s+ per call
        a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        s1, s2 = a @ a.T / d, b @ b.T / d
        mu = np.zeros(d)
        for method in methods:
            out[f"frechet_d{d}_{method}_s"] = timed(lambda: frechet_distance(mu, s1, mu, s2, method), repeat=1)


def bench_i3d(out: dict) -> None:
    from proav_core import ClipSpec, build

    extractor = build("extractor", "i3d_kinetics400", clip=ClipSpec())
    video = torch.rand(4, 3, 16, 256, 256) * 2 - 1
    per_clip = timed(lambda: extractor(video), repeat=1) / 4
    out["i3d_s_per_clip_cpu"] = per_clip
    out["i3d_fvd2048_one_set_min_cpu"] = per_clip * 2048 / 60


def bench_av_align(out: dict) -> None:
    from av_sync_clips import square_and_clicks

    from proav_core.metrics.av_align import audio_onsets, av_align

    audio_onsets(np.zeros(4096, np.float32), 22050)  # numba warm-up
    for size in (128, 256):
        video, wave = square_and_clicks([0.5, 1.0, 1.5], size=size)
        out[f"av_align_s_per_clip_{size}px_2s_24fps"] = timed(lambda: av_align(video, wave, 24, 16000))


def bench_logmel(out: dict) -> None:
    from proav_core.metrics.audio_features import log_mel_statistics

    wave = torch.randn(16, 16000 * 2) * 0.1
    out["logmel_stats_s_per_2s_clip"] = timed(lambda: log_mel_statistics(wave, 16000)) / 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "metrics_speed.json"))
    args = parser.parse_args()
    figures: dict = {"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()}
    for bench in (bench_frechet, bench_logmel, bench_av_align, bench_i3d):
        bench(figures)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value:.4g}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    write_report(figures, Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
