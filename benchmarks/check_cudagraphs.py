"""Whether the `cudagraphs` compile scope computes what eager does on this device: STDiT's
output and every parameter's gradient over three training-like steps (new inputs each, the
graphs replayed), and two calls in a row whose first output is read after the second (a
sampler's pattern). Prints the largest differences relative to the eager values' scale and
writes them as JSON. CUDA only (on a CPU the scope is plain `network`, tested in the suite).

    python benchmarks/check_cudagraphs.py [--preset small] [--precision bf16] [--device cuda] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import proav_core
from proav_core.benchmarking.report import run_script, write_report
from proav_core.compiling import compile_model

# the paper's proportions at a quarter of its size: 8 x 8 hw planes, 4 x 8 tw / th planes (padded)
PLANES = {f"{m}_{a}": s for m in ("video", "audio") for a, s in (("hw", (4, 8, 8)), ("tw", (4, 4, 8)), ("th", (4, 4, 8)))}


def build(preset: str, device: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    stacker = proav_core.build("stacker", "stack6", plane_shapes=PLANES)
    torch.manual_seed(0)
    gen = proav_core.build("generator", "stdit", latent_shape=stacker.latent_shape, cond_dim=8, stacker=stacker,
                           preset=preset, patch=(1, 2, 2))
    with torch.no_grad():
        for p in gen.parameters():
            if not p.any():
                p.normal_(0, 0.05)  # gates open: the blocks change the output
    return gen.to(device), stacker.latent_shape


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/check-cudagraphs.json"))
    parser.add_argument("--device", default="cuda", help="cuda (cpu runs the same code without CUDA graphs)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("check_cudagraphs: no CUDA device here (--device cpu runs it as plain `network`)")
    device, dtype = args.device, torch.bfloat16 if args.precision == "bf16" else torch.float32
    eager, shape = build(args.preset, device)
    graphed, _ = build(args.preset, device)
    compile_model(graphed, "cudagraphs", device)
    g = torch.Generator(device).manual_seed(1)
    result: dict[str, list[float]] = {"output": [], "grad": [], "kept_output": []}
    for _ in range(3):  # training-like: forward, backward, new inputs
        x = torch.randn(2, *shape, device=device, generator=g)  # (B, C, F, A, W)
        t = torch.rand(2, device=device, generator=g)  # (B,)
        cond = torch.randn(2, 1, 8, device=device, generator=g)  # (B, L, Dc)
        outs = []
        for model in (eager, graphed):
            model.zero_grad(set_to_none=True)
            with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
                out = model(x, t, cond)
            out.float().square().mean().backward()
            outs.append((out.detach(), {k: p.grad for k, p in model.named_parameters()}))
        result["output"].append(rel(outs[1][0], outs[0][0]))
        result["grad"].append(max(rel(outs[1][1][k], grad) for k, grad in outs[0][1].items()))
    with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
        x = torch.randn(2, *shape, device=device, generator=g)
        first = graphed(x, t, cond)
        graphed(2 * x, t, cond)  # replays the graph that made `first`
        result["kept_output"].append(rel(first, eager(x, t, cond)))
    report = {"device": torch.cuda.get_device_name(0) if device == "cuda" else device, "torch": torch.__version__, "preset": args.preset,
              "precision": args.precision, "max_relative_difference": result}
    print(json.dumps(report, indent=1))
    write_report(report, args.out)


if __name__ == "__main__":
    run_script(main)
