"""Padding's cost in STDiT at the paper's config: padded stack6 vs real tokens only vs packed.

    .venv/bin/python benchmarks/bench_padding.py [--depth N] [--batch 2] [--repeats 3]
        [--sample-steps 30] [--threads N] [--out benchmarks/measured/padding.json]

The generator is configs/generator_paper.toml's [model.generator] (STDiT preset "paper":
16 blocks, width 1152, 16 heads, patch 1x4x4) on the paper's planes (C=4; 32x32, 16x32, 16x32
per modality); --depth overrides the block count where the full model is too slow here (the
blocks are identical, so the ratios carry over). Three variants, same seed, same weights:

- `padded`: stack6 (4, 6, 32, 32), padding = "compute" (the path before issue 15; 384 tokens);
- `unpadded`: stack6, padding = "skip" (256 real tokens; attention grouped per frame/position);
- `packed`: stack_packed (4, 4, 32, 32), no padding at all (256 tokens, 4 full frames).

Measured, interleaved across variants so a busy machine slows all alike: forward+backward of
the reflected-flow loss at --batch, and a --sample-steps reflected-flow sampling loop with
classifier-free guidance (both passes batched). Ratios: padded seconds / variant seconds, of
the medians and of the fastest calls (on a shared machine the fastest call is the steadier
figure of the work itself; both are written).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
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

PAPER_PLANES = {f"{m}_{a}": s for m in ("video", "audio")
                for a, s in (("hw", (4, 32, 32)), ("tw", (4, 16, 32)), ("th", (4, 16, 32)))}
VARIANTS = {"padded": ("stack6", "compute"), "unpadded": ("stack6", "skip"), "packed": ("stack_packed", "skip")}


def generator_params(depth: int | None) -> dict:
    """[model.generator] of configs/generator_paper.toml, without its name; depth overridden."""
    params = dict(tomllib.loads((ROOT / "configs" / "generator_paper.toml").read_text())["model"]["generator"])
    params.pop("name")
    if depth:
        params["depth"] = depth
    return params


def variant(name: str, params: dict, batch: int, steps: int) -> dict:
    """Builds one variant and returns its two workloads (closures) and its description."""
    stacker_name, padding = VARIANTS[name]
    stacker = proav_core.build("stacker", stacker_name, plane_shapes=PAPER_PLANES)
    torch.manual_seed(0)
    cond = proav_core.build("conditioner", "class_label", dim=256, classes=["a", "b"])
    gen = proav_core.build("generator", "stdit", latent_shape=stacker.latent_shape, cond_dim=cond.dim,
                           stacker=stacker, padding=padding, **params)
    objective = proav_core.build("objective", "reflected_flow", bound=3.0)
    sampler = proav_core.build("sampler", "reflected_flow", steps=steps, bound=3.0)
    mask = stacker.loss_mask()
    g = torch.Generator().manual_seed(0)
    x1 = objective.sample_noise((batch, *stacker.latent_shape), generator=g) * mask
    x0 = objective.sample_noise((batch, *stacker.latent_shape), generator=g)
    labels = torch.arange(batch) % 2

    def fwd_bwd():
        gen.train()
        loss = objective.loss(gen, x1, cond.from_labels(labels), cond.null(batch), mask=mask)
        loss.backward()
        gen.zero_grad(set_to_none=True)

    def sample():
        gen.eval()
        with torch.no_grad():
            sampler(gen, x0, cond=cond.from_labels(labels), null_cond=cond.null(batch), cfg_scale=2.0)

    info = gen.describe(cond_tokens=1)
    keep = ("parameters", "latent_shape", "tokens_per_sample", "computed_tokens_per_sample", "padded_token_share",
            "flops_per_sample", "padding")
    return {"fwd_bwd": fwd_bwd, "sample": sample,
            "info": {"stacker": stacker_name, **{k: info[k] for k in keep}}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depth", type=int, default=None, help="blocks (default: the config's, 16)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed calls per workload and variant (median)")
    p.add_argument("--sample-steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "measured" / "padding.json"))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = generator_params(args.depth)
    built = {name: variant(name, params, args.batch, args.sample_steps) for name in VARIANTS}
    seconds: dict[str, dict[str, list[float]]] = {n: {"fwd_bwd": [], "sample": []} for n in VARIANTS}
    for workload in ("fwd_bwd", "sample"):
        for name in VARIANTS:  # one untimed warm-up call each
            built[name][workload]()
        for _ in range(args.repeats):
            for name in VARIANTS:
                seconds[name][workload] += time_calls(built[name][workload], torch.device("cpu"), 0, 1)
    rows = {}
    for name in VARIANTS:
        fb, smp = (statistics.median(seconds[name][w]) for w in ("fwd_bwd", "sample"))
        rows[name] = {**built[name]["info"], "fwd_bwd_s": fb, "sample_s": smp,
                      "fwd_bwd_min_s": min(seconds[name]["fwd_bwd"]), "sample_min_s": min(seconds[name]["sample"]),
                      "fwd_bwd_all_s": seconds[name]["fwd_bwd"], "sample_all_s": seconds[name]["sample"]}
    base = rows["padded"]
    ratios = {name: {k: base[k] / r[k] for k in ("fwd_bwd_s", "sample_s", "fwd_bwd_min_s", "sample_min_s")}
              for name, r in rows.items()}
    for name, r in rows.items():
        x = ratios[name]
        print(f"{name:>9} {r['stacker']:>12} tokens={r['computed_tokens_per_sample']:4d} "
              f"params={r['parameters'] / 1e6:7.2f}M fwd+bwd median {r['fwd_bwd_s']:.3f}s ({x['fwd_bwd_s']:.2f}x) "
              f"fastest {r['fwd_bwd_min_s']:.3f}s ({x['fwd_bwd_min_s']:.2f}x); sample{args.sample_steps}+cfg "
              f"median {r['sample_s']:.3f}s ({x['sample_s']:.2f}x) fastest {r['sample_min_s']:.3f}s "
              f"({x['sample_min_s']:.2f}x)", flush=True)
    result = {"commit": git_commit(),
              "device": f"cpu ({cpu_model() or platform.machine()}, {torch.get_num_threads()} threads)",
              "torch": torch.__version__, "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
              "config": "configs/generator_paper.toml [model.generator]", "generator_params": params,
              "batch": args.batch, "sample_steps": args.sample_steps, "cfg": "scale 2.0, both passes batched",
              "repeats": args.repeats, "precision": "fp32",
              "ratio_note": "padded seconds / variant seconds (>1 = faster than padded stack6)",
              "rows": rows, "speedup_vs_padded": ratios}
    out = Path(args.out)
    write_report(result, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    run_script(main)
