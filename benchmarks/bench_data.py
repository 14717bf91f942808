"""Data pipeline figures on this machine: mel_frames round-trip quality, prepare throughput.

    .venv/bin/python benchmarks/bench_data.py [--sizes 32,64,128,256] [--frames 16] [--fps 10]
        [--clips 8] [--files 16] [--prepare-size 64] [--threads N]
        [--out benchmarks/results/data-cpu.json]

Round trip (waveform -> mel_frames -> waveform, inverse mel + 32 Griffin-Lim iterations), per
image size H = W, on a harmonic + percussive test signal and on `--clips` syncshapes clips:
- SNR (dB) of the waveform: low by nature, Griffin-Lim does not recover the phase;
- spectral convergence ||S - S'||_F / ||S||_F of STFT magnitudes (n_fft 512, hop 128);
- PSNR-A (dB): the representation against the representation of the decoded waveform, in
  [-1, 1] (data range 2), the audio PSNR of the paper's Table 6 applied to the round trip;
- encode and decode milliseconds per clip.
Prepare: `--files` syncshapes scenes of two clips each written as mp4 (`proav data synth`),
then `prepare` of a video_folder config (decode + resize + mel + shards + manifest): clips/s,
and the rerun that finds everything done; `prepare` of the syncshapes dataset itself (no
files): clips/s.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import proav_core  # noqa: E402
from proav_core import ClipSpec, load_config  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.data.prepare import prepare  # noqa: E402
from proav_core.data.synth import synthesize  # noqa: E402
from proav_core.metrics.psnr import psnr  # noqa: E402


def harmonic(num: int, rate: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(num) / rate
    x = 0.3 * torch.sin(2 * math.pi * (220 + 150 * t) * t) + 0.15 * torch.sin(2 * math.pi * 660 * t)
    for k in range(int(num / rate / 0.3)):
        i = int((0.15 + 0.3 * k) * rate)
        x[i:] += 0.4 * torch.exp(-torch.arange(num - i) / rate / 0.04) * torch.randn(num - i, generator=g)
    return x.clamp(-1, 1)


def round_trip(clip: ClipSpec, waves: torch.Tensor) -> dict[str, float]:
    rep = proav_core.build("audio_repr", "mel_frames", clip=clip)
    t0 = time.perf_counter()
    a = rep.encode(waves)  # (B, T, H, W)
    t1 = time.perf_counter()
    y = rep.decode(a)  # (B, S)
    t2 = time.perf_counter()
    window = torch.hann_window(512)
    spec = lambda s: torch.stft(s, 512, 128, window=window, return_complex=True).abs()  # noqa: E731
    sx, sy = spec(waves), spec(y)
    b = waves.shape[0]
    return {
        "snr_db": float((10 * torch.log10(waves.pow(2).sum(1) / (waves - y).pow(2).sum(1))).mean()),
        "spectral_convergence": float(((sx - sy).flatten(1).norm(dim=1) / sx.flatten(1).norm(dim=1)).mean()),
        "psnr_a_db": float(psnr(a, rep.encode(y)).mean()),
        "encode_ms": 1000 * (t1 - t0) / b,
        "decode_ms": 1000 * (t2 - t1) / b,
    }


def bench_round_trip(args) -> list[dict]:
    rows = []
    for size in map(int, args.sizes.split(",")):
        clip = ClipSpec(frames=args.frames, fps=args.fps, height=size, width=size)
        small = ClipSpec(frames=args.frames, fps=args.fps, height=16, width=16)  # the audio does not depend on H, W
        shapes = proav_core.build("dataset", "syncshapes", clip=small, train_size=args.clips)
        signals = {"harmonic": harmonic(clip.num_samples, clip.sample_rate)[None],
                   "syncshapes": torch.stack([shapes[i]["waveform"] for i in range(args.clips)])}
        for name, waves in signals.items():
            row = {"signal": name, "size": size, **round_trip(clip, waves)}
            rows.append(row)
            print(f"  {name:<10} {size:>3}x{size:<3} SNR {row['snr_db']:6.2f} dB  "
                  f"SC {row['spectral_convergence']:.3f}  PSNR-A {row['psnr_a_db']:5.2f} dB  "
                  f"encode {row['encode_ms']:6.1f} ms  decode {row['decode_ms']:6.1f} ms")
    return rows


def bench_prepare(args, work: Path) -> dict:
    size = args.prepare_size
    clip = ClipSpec(frames=args.frames, fps=args.fps, height=size, width=size)
    t0 = time.perf_counter()
    synthesize(work / "files", args.files, clip, {"num_classes": 4}, clips_per_file=2, show_progress=False)
    synth_s = time.perf_counter() - t0
    cfg_path = work / "vf.toml"
    cfg_path.write_text(f'name = "bench"\n[clip]\nframes = {args.frames}\nfps = {args.fps}\nheight = {size}\n'
                        f'width = {size}\n[dataset]\nname = "video_folder"\nroot = "{work / "files"}"\n')
    cfg = load_config(cfg_path)
    t0 = time.perf_counter()
    first = prepare(cfg, work / "cache", ("all",), show_progress=False)["all"]
    prep_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepare(cfg, work / "cache", ("all",), show_progress=False)
    rerun_s = time.perf_counter() - t0
    shapes_cfg = work / "ss.toml"
    shapes_cfg.write_text(f'name = "bench"\n[clip]\nframes = {args.frames}\nfps = {args.fps}\nheight = {size}\n'
                          f'width = {size}\n[dataset]\nname = "syncshapes"\ntrain_size = {2 * args.files}\n')
    t0 = time.perf_counter()
    synthetic = prepare(load_config(shapes_cfg), work / "cache2", ("train",), show_progress=False)["train"]
    shapes_s = time.perf_counter() - t0
    out = {
        "size": size, "frames": args.frames, "fps": args.fps, "files": args.files, "clips": first.clips,
        "synth_files_per_s": args.files / synth_s,
        "prepare_video_folder_clips_per_s": first.clips / prep_s,
        "rerun_all_done_s": rerun_s,
        "prepare_syncshapes_clips_per_s": synthetic.clips / shapes_s,
    }
    print(f"  synth: {out['synth_files_per_s']:.1f} files/s ({args.files} files of 2 clips, {size}x{size}, "
          f"T={args.frames} at {args.fps} fps)")
    rate = out["prepare_video_folder_clips_per_s"]
    print(f"  prepare video_folder: {first.clips} clips in {prep_s:.2f} s = {rate:.1f} clips/s; "
          f"rerun (all done) {rerun_s:.2f} s")
    print(f"  prepare syncshapes: {synthetic.clips} clips = {out['prepare_syncshapes_clips_per_s']:.1f} clips/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,64,128,256")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--clips", type=int, default=8, help="syncshapes clips in the round-trip figures")
    parser.add_argument("--files", type=int, default=16, help="synthetic files (2 clips each) to prepare")
    parser.add_argument("--prepare-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}")
    print("mel_frames round trip (waveform -> repr -> waveform):")
    trips = bench_round_trip(args)
    print("prepare:")
    with tempfile.TemporaryDirectory() as tmp:
        prep = bench_prepare(args, Path(tmp))
    out = Path(args.out or ROOT / "benchmarks" / "results" / "data-cpu.json")
    write_report({"threads": torch.get_num_threads(), "round_trip": trips, "prepare": prep}, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    run_script(main)
