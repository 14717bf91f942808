"""`--compile` on STDiT: eager vs compiled blocks vs compiled network, on this machine.

    .venv/bin/python benchmarks/bench_compile.py [--models tiny base] [--batch 2] [--repeats 5]
        [--sample-steps 4] [--threads N] [--out benchmarks/measured/compile-cpu.json]

Models (the STDiT preset on the latent planes of an MDSA config, stack6, class labels):
- `tiny`: configs/generator_tiny.toml (preset tiny: 2 blocks, width 64, 4 heads, patch 1x2x2)
  on configs/mdsa_tiny.toml's planes;
- `base`: preset base (12 blocks, width 768, 12 heads, patch 1x2x2) on configs/mdsa_base.toml's
  planes.

Three variants per model, same seed, same weights: `eager`, `blocks` (each block compiled,
proav_core.compiling scope "blocks") and `network` (the whole generator forward compiled).
Workloads: a forward+backward of the reflected-flow loss at --batch (training step without the
optimiser), and one sampling step (the reflected-flow sampler with classifier-free guidance over
--sample-steps steps, seconds divided by the steps). Zero-initialised parameters (gates, final
layer) get small random values, so that the check of compiled against eager samples compares
real outputs. The compile time is the first call's seconds minus a steady call's (reported, not
in the ratios). Timed calls are interleaved across variants (variant A, B, C, A, B, C, ...)
so that load from other users of a shared machine falls on all alike; medians and fastest calls
are both written. Ratio: eager seconds / variant seconds (> 1 = compiled is faster). The
compiled samples are checked against eager (max abs difference).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tomllib
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import proav_core  # noqa: E402
from proav_core.benchmarking.measure import time_calls  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.machine import cpu_model  # noqa: E402
from proav_core.benchmarking.quality import git_commit  # noqa: E402
from proav_core.build import build_component  # noqa: E402
from proav_core.compiling import compile_model  # noqa: E402
from proav_core.config import load_config  # noqa: E402

MODELS = {"tiny": ("generator_tiny.toml", "tiny"), "base": ("mdsa_base.toml", "base")}
VARIANTS = ("eager", "blocks", "network")


def plane_shapes(config: str) -> dict[str, tuple[int, int, int]]:
    cfg = load_config(ROOT / "configs" / config)
    return dict(build_component(cfg.model.autoencoder, clip=cfg.clip).plane_shapes())


def build(model: str, variant: str, batch: int, steps: int) -> dict:
    """One model in one variant: its two workloads (closures), a probe output and its figures."""
    config, preset = MODELS[model]
    planes = plane_shapes(config)
    stacker = proav_core.build("stacker", "stack6", plane_shapes=planes)
    torch.manual_seed(0)
    cond = proav_core.build("conditioner", "class_label", dim=32, classes=["a", "b"])
    gen = proav_core.build("generator", "stdit", latent_shape=stacker.latent_shape, cond_dim=cond.dim,
                           stacker=stacker, preset=preset)
    with torch.no_grad():  # adaLN-zero: fresh gates and final layer are zero, the output would be 0 whatever
        for p in gen.parameters():  # the blocks compute; open them so the eager/compiled check means something
            if not p.any():
                p.normal_(0, 0.02)
    objective = proav_core.build("objective", "reflected_flow", bound=3.0)
    sampler = proav_core.build("sampler", "reflected_flow", steps=steps, bound=3.0)
    mask = stacker.loss_mask()
    g = torch.Generator().manual_seed(0)
    x1 = objective.sample_noise((batch, *stacker.latent_shape), generator=g) * mask
    x0 = objective.sample_noise((batch, *stacker.latent_shape), generator=g)
    labels = torch.arange(batch) % 2
    if variant != "eager":
        compile_model(gen, variant, "cpu")

    def fwd_bwd():
        gen.train()
        torch.manual_seed(1)  # the same training times and noise in every variant
        loss = objective.loss(gen, x1, cond.from_labels(labels), cond.null(batch), mask=mask)
        loss.backward()
        gen.zero_grad(set_to_none=True)

    def sample():
        gen.eval()
        with torch.no_grad():
            return sampler(gen, x0, cond=cond.from_labels(labels), null_cond=cond.null(batch), cfg_scale=2.0)

    info = gen.describe(cond_tokens=1)
    return {"fwd_bwd": fwd_bwd, "sample": sample,
            "info": {"preset": preset, "planes_from": f"configs/{config}", "latent_shape": info["latent_shape"],
                     "parameters": info["parameters"], "tokens_per_sample": info["tokens_per_sample"]}}


def first_call(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def measure_model(model: str, args: argparse.Namespace) -> dict:
    built = {v: build(model, v, args.batch, args.sample_steps) for v in VARIANTS}
    first = {v: {w: first_call(built[v][w]) for w in ("fwd_bwd", "sample")} for v in VARIANTS}
    reference = built["eager"]["sample"]()
    max_diff = {v: float((built[v]["sample"]() - reference).abs().max()) for v in VARIANTS[1:]}
    seconds = {v: {"fwd_bwd": [], "sample": []} for v in VARIANTS}
    for workload in ("fwd_bwd", "sample"):
        for _ in range(args.repeats):
            for v in VARIANTS:
                seconds[v][workload] += time_calls(built[v][workload], torch.device("cpu"), 0, 1)
    rows = {}
    for v in VARIANTS:
        s = seconds[v]
        rows[v] = {"fwd_bwd_s": statistics.median(s["fwd_bwd"]), "fwd_bwd_min_s": min(s["fwd_bwd"]),
                   "sample_step_s": statistics.median(s["sample"]) / args.sample_steps,
                   "sample_step_min_s": min(s["sample"]) / args.sample_steps,
                   "compile_s": {w: max(first[v][w] - statistics.median(s[w]), 0.0) for w in s},
                   "fwd_bwd_all_s": s["fwd_bwd"], "sample_all_s": s["sample"]}
    base = rows["eager"]
    keys = ("fwd_bwd_s", "fwd_bwd_min_s", "sample_step_s", "sample_step_min_s")
    ratios = {v: {k: base[k] / rows[v][k] for k in keys} for v in VARIANTS[1:]}
    for v in VARIANTS:
        r = rows[v]
        x = ratios.get(v, {k: 1.0 for k in keys})
        print(f"{model:>5} {v:>8}: fwd+bwd median {r['fwd_bwd_s']:.4f}s ({x['fwd_bwd_s']:.2f}x), fastest "
              f"{r['fwd_bwd_min_s']:.4f}s ({x['fwd_bwd_min_s']:.2f}x); sampling step median {r['sample_step_s']:.4f}s "
              f"({x['sample_step_s']:.2f}x), fastest {r['sample_step_min_s']:.4f}s ({x['sample_step_min_s']:.2f}x); "
              f"compile {r['compile_s']['fwd_bwd']:.1f}s + {r['compile_s']['sample']:.1f}s", flush=True)
    return {**built["eager"]["info"], "rows": rows, "speedup_vs_eager": ratios,
            "sample_max_abs_diff_vs_eager": max_diff}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="timed calls per workload and variant (median)")
    p.add_argument("--sample-steps", type=int, default=4, help="sampler steps per timed sampling call")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "measured" / "compile-cpu.json"))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = {m: measure_model(m, args) for m in args.models}
    result = {"commit": git_commit(),
              "device": f"cpu ({cpu_model() or platform.machine()}, {torch.get_num_threads()} threads, "
                        f"{os.cpu_count()} cores)",
              "torch": torch.__version__, "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
              "batch": args.batch, "sample_steps": args.sample_steps, "cfg": "scale 2.0, both passes batched",
              "repeats": args.repeats, "precision": "fp32", "stacker": "stack6 (padding skipped)",
              "ratio_note": "eager seconds / compiled seconds (>1 = compiled is faster); compile_s: first call "
                            "minus the median call, per workload (not in the ratios)",
              "models": models}
    out = Path(args.out)
    write_report(result, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    run_script(main)
