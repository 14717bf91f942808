"""MDSA autoencoder speed on this machine: prints a table and writes JSON.

    .venv/bin/python benchmarks/bench_mdsa.py [--rows tiny,base,paper] [--batch 2]
        [--repeats 3] [--device auto] [--precision 32-true|bf16-mixed] [--threads N]
        [--out benchmarks/results/mdsa-<device>.json]

Rows are configs: tiny = configs/mdsa_tiny.toml (32 x 32, T = 8), base =
configs/mdsa_base.toml (64 x 64, T = 8), paper = configs/mdsa_paper.toml (256 x 256, T = 16;
GPU only in practice: on a 2-core CPU one batch-1 step grew past 19 GB of RAM and had not
finished after 15 minutes). Measured per row, on random clips in [-1, 1]: seconds per stage-1 training
step (generator_loss forward + backward + Adam), per stage-2 step (adds KL, adversarial and
feature-matching terms and the discriminator step), per encode_latents + decode_latents of
one batch (inference, posterior means), the parameters, and peak GPU memory on CUDA.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import proav_core  # noqa: E402
from proav_core.benchmarking.measure import time_calls  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.machine import cpu_model  # noqa: E402

CONFIGS = {"tiny": "configs/mdsa_tiny.toml", "base": "configs/mdsa_base.toml", "paper": "configs/mdsa_paper.toml"}


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    return statistics.median(time_calls(fn, device, warmup=1, repeats=repeats))


def bench_row(row: str, batch: int, repeats: int, device: torch.device, precision: str) -> dict:
    cfg = proav_core.load_config(ROOT / CONFIGS[row])
    clip = cfg.clip
    torch.manual_seed(0)
    ae = proav_core.build_component(cfg.model.autoencoder, clip=clip).to(device)
    step = ae.training_step().to(device)
    opt_g = torch.optim.Adam(ae.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(step.discriminators.parameters(), lr=1e-4) if step.has_discriminators else None
    t, h, w = clip.frames, clip.height, clip.width
    data = {"video": torch.rand(batch, 3, t, h, w, device=device) * 2 - 1,
            "audio": torch.rand(batch, t, h, w, device=device) * 2 - 1}
    data = {m: data[m] for m in ae.modalities}
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16-mixed" else nullcontext())
    disc_start = ae.loss_params.disc_start

    def train(stage_step: int) -> None:
        with autocast:
            loss, _, recon = step.generator_loss(ae, data, stage_step)
        loss.backward()
        opt_g.step()
        opt_g.zero_grad(set_to_none=True)
        with autocast:
            d = step.discriminator_loss(data, recon, stage_step)
        if d is not None and opt_d is not None:
            d[0].backward()
            opt_d.step()
            opt_d.zero_grad(set_to_none=True)

    @torch.no_grad()
    def infer() -> None:
        with autocast:
            ae.decode_latents(ae.encode_latents(data.get("video"), data.get("audio")))

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ae.train()
    stage1 = timed(lambda: train(0 if disc_start > 0 else -1), device, repeats)
    stage2 = timed(lambda: train(disc_start), device, repeats)
    ae.eval()
    inference = timed(infer, device, repeats)
    out = {"row": row, "config": CONFIGS[row], "clip": [t, h, w], "batch": batch,
           "parameters_autoencoder": sum(p.numel() for p in ae.parameters()),
           "parameters_discriminators": sum(p.numel() for p in step.discriminators.parameters()),
           "s_per_step_stage1": stage1, "s_per_step_stage2": stage2, "s_per_batch_encode_decode": inference}
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="tiny,base")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model() or platform.machine()
    results = []
    print(f"device: {device} ({name}), threads {torch.get_num_threads()}, precision {args.precision}")
    print(f"{'row':6} {'clip':>14} {'B':>2} {'AE params':>12} {'D params':>10} {'s/step st1':>10} "
          f"{'s/step st2':>10} {'s enc+dec':>9}")
    for row in args.rows.split(","):
        r = bench_row(row.strip(), args.batch, args.repeats, device, args.precision)
        results.append(r)
        print(f"{r['row']:6} {'x'.join(map(str, r['clip'])):>14} {r['batch']:>2} {r['parameters_autoencoder']:>12,} "
              f"{r['parameters_discriminators']:>10,} {r['s_per_step_stage1']:>10.3f} {r['s_per_step_stage2']:>10.3f} "
              f"{r['s_per_batch_encode_decode']:>9.3f}" + (f"  peak {r['peak_memory_gib']:.1f} GiB" if "peak_memory_gib" in r else ""),
              flush=True)
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"mdsa-{device.type}.json")
    write_report({"device": name, "threads": torch.get_num_threads(), "precision": args.precision,
                 "results": results}, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    run_script(main)
