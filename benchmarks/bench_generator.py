"""Generator speed on this machine: prints a table and writes JSON.

    .venv/bin/python benchmarks/bench_generator.py [--rows tiny@tiny,tiny@paper,paper@paper]
        [--batch 2] [--paper-batch 1] [--repeats 5] [--device auto] [--precision 32-true|bf16-mixed]
        [--threads N]
        [--out benchmarks/results/generator-<device>.json]

A row is PRESET@PLANES: an stdit size preset on the tiny planes (C=4, T=8, 4x4) or the paper's
(C=4, 32x32 / 16x32 / 16x32 per modality -> stack6 latent (4, 6, 32, 32)); class_label
condition (one 256-wide token), reflected_flow objective and sampler.
Measured per row: seconds per training step (loss forward + backward, and with the AdamW
step), seconds per 30-step sample with classifier-free guidance (both passes batched), the
parameters, the analytic forward FLOPs per sample (describe()), and the achieved FLOP/s
(training: 3x forward FLOPs, the usual backward = 2x forward estimate; sampling: 2 CFG
passes x 30 steps x forward FLOPs). Where a 30-step sample would take long (--max-sample-s),
a few steps are timed and the figure is extrapolated; the output says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
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

PLANES = {
    "tiny": {f"{m}_{a}": s for m in ("video", "audio") for a, s in (("hw", (4, 4, 4)), ("tw", (4, 8, 4)), ("th", (4, 8, 4)))},
    "paper": {f"{m}_{a}": s for m in ("video", "audio") for a, s in (("hw", (4, 32, 32)), ("tw", (4, 16, 32)), ("th", (4, 16, 32)))},
}
STEPS = 30


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    return statistics.median(time_calls(fn, device, warmup=1, repeats=repeats))


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({cpu_model() or platform.machine()}, {torch.get_num_threads()} threads)"


def bench_row(preset: str, planes: str, batch: int, args, device: torch.device) -> dict:
    stacker = proav_core.build("stacker", "stack6", plane_shapes=PLANES[planes])
    cond = proav_core.build("conditioner", "class_label", dim=256, classes=["a", "b"]).to(device)
    gen = proav_core.build("generator", "stdit", preset=preset, latent_shape=stacker.latent_shape,
                           cond_dim=cond.dim, stacker=stacker).to(device)
    objective = proav_core.build("objective", "reflected_flow", bound=3.0)
    info = gen.describe(cond_tokens=1)
    flops = info["flops_per_sample"]
    mask = stacker.loss_mask().to(device)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16-mixed" else nullcontext())
    g = torch.Generator().manual_seed(0)
    x1 = (objective.sample_noise((batch, *stacker.latent_shape), generator=g) * mask.cpu()).to(device)
    labels = torch.arange(batch, device=device) % 2
    opt = torch.optim.AdamW(list(gen.parameters()) + list(cond.parameters()), lr=1e-4)

    def fwd_bwd():
        with autocast:
            loss = objective.loss(gen, x1, cond.from_labels(labels), cond.null(batch), mask=mask)
        loss.backward()

    def train_step():
        fwd_bwd()
        opt.step()
        opt.zero_grad(set_to_none=True)

    gen.train()
    repeats = args.repeats if preset != "paper" or device.type == "cuda" else max(1, args.repeats // 2)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    fb = timed(fwd_bwd, device, repeats)
    opt.zero_grad(set_to_none=True)
    step = timed(train_step, device, repeats)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None

    gen.eval()
    one_step = proav_core.build("sampler", "reflected_flow", steps=1, bound=3.0)
    x0 = objective.sample_noise((batch, *stacker.latent_shape), generator=g).to(device)
    c, null = cond.from_labels(labels), cond.null(batch)

    def sample(sampler):
        with torch.no_grad(), autocast:
            sampler(gen, x0, cond=c, null_cond=null, cfg_scale=2.0)

    per_step = timed(lambda: sample(one_step), device, repeats)
    extrapolated = per_step * STEPS > args.max_sample_s
    if extrapolated:
        sample_s = per_step * STEPS
    else:
        full = proav_core.build("sampler", "reflected_flow", steps=STEPS, bound=3.0)
        sample_s = timed(lambda: sample(full), device, max(1, repeats // 2))
    return {
        "row": f"{preset}@{planes}", "preset": preset, "planes": planes, "batch": batch,
        "latent_shape": list(stacker.latent_shape), "parameters": info["parameters"],
        "tokens_per_sample": info["tokens_per_sample"], "real_token_fraction": info["real_token_fraction"],
        "flops_per_sample_forward": flops,
        "fwd_bwd_s_per_step": fb, "train_step_s": step,
        "train_flops_per_s": 3 * flops * batch / fb,
        "sample_s_per_batch_30_steps_cfg": sample_s, "sample_s_per_sample": sample_s / batch,
        "sample_flops_per_s": 2 * STEPS * flops * batch / sample_s,
        "sample_extrapolated_from_one_step": extrapolated,
        "peak_memory_gib_train": peak,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default="tiny@tiny,tiny@paper,paper@paper", help="PRESET@PLANES, comma separated")
    p.add_argument("--batch", type=int, default=2, help="batch size (tiny presets)")
    p.add_argument("--paper-batch", type=int, default=None, help="batch for larger presets (default: 1 on CPU, --batch on GPU)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-sample-s", type=float, default=60.0, help="time a full 30-step sample only below this")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    big_batch = args.paper_batch or (1 if device.type == "cpu" else args.batch)
    rows = []
    for spec in args.rows.split(","):
        preset, planes = spec.split("@")
        torch.manual_seed(0)
        rows.append(bench_row(preset, planes, args.batch if preset == "tiny" else big_batch, args, device))
        r = rows[-1]
        print(f"{r['row']:>14} b={r['batch']} params={r['parameters'] / 1e6:8.2f}M tokens={r['tokens_per_sample']:5d} "
              f"fwd GFLOP/sample={r['flops_per_sample_forward'] / 1e9:8.3f} fwd+bwd={r['fwd_bwd_s_per_step']:.4f}s "
              f"step={r['train_step_s']:.4f}s ({r['train_flops_per_s'] / 1e12:.3f} TFLOP/s) "
              f"sample30+cfg={r['sample_s_per_sample']:.3f}s/sample ({r['sample_flops_per_s'] / 1e12:.3f} TFLOP/s)"
              + (" [extrapolated from 1 step]" if r["sample_extrapolated_from_one_step"] else "")
              + (f" peak={r['peak_memory_gib_train']:.2f}GiB" if r["peak_memory_gib_train"] is not None else ""),
              flush=True)
    name = device_name(device)
    result = {"device": name, "precision": args.precision, "torch": torch.__version__,
              "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
              "flops_note": "analytic forward FLOPs: Linear 2mnk + attention QK^T, AV; training = 3x forward",
              "rows": rows}
    slug = "cpu" if device.type == "cpu" else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    suffix = "" if args.precision == "32-true" else f"-{args.precision}"
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"generator-{slug}{suffix}.json")
    write_report(result, out)
    print(f"device: {name}, precision {args.precision}; wrote {out}")


if __name__ == "__main__":
    run_script(main)
