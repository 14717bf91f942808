"""MDSA activation checkpointing: activation memory of one training forward, with and without
`checkpoint_blocks`, at any size (on the meta device the model runs without memory or compute).

    .venv/bin/python benchmarks/bench_mdsa_checkpointing.py [--rows base,paper] [--batch 1]
        [--device meta|cpu|cuda] [--out benchmarks/results/mdsa-checkpointing-<device>.json]

Per row (base = configs/mdsa_base.toml, paper = configs/mdsa_paper.toml), the autoencoder's
training forward (posterior sample, decode) is run twice (on meta tensors by default): with every
encoder, projector and decoder block plain (checkpoint_blocks = 0) and with all of them
checkpointed (checkpoint_blocks = depth). Figures, in bytes at float32:
- saved: the tensors autograd holds for backward once the forward is done (weights not
  counted; each storage once) -- the activation memory a training step keeps;
- largest block: the most one checkpointed block saves when it runs plain -- what backward
  recomputes and holds at once on top of `saved` when checkpointing is on.
So the activation peak is about `saved` without checkpointing and `saved + largest block`
with it. Weights, gradients, Adam state, the losses' own terms (perceptual, discriminators)
and the allocator's slack are not included: measure a real step with `proav bench` (peak
memory) where it fits the device. `--device cpu` counts real tensors, a check of the meta
count on the sizes that fit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.autograd.graph import saved_tensors_hooks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import proav_core  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402

CONFIGS = {"tiny": "configs/mdsa_tiny.toml", "base": "configs/mdsa_base.toml", "paper": "configs/mdsa_paper.toml"}
PARTS = ("encoder", "projector", "decoder")


def checkpointed_blocks(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The blocks that `checkpoint_blocks` covers: every block of each stack that has it."""
    return [block for m in module.modules() if hasattr(m, "checkpoint_blocks") for block in m.blocks]


def measure(config: str, batch: int, checkpoint: bool, device: str) -> dict:
    with torch.device("meta"):
        cfg = proav_core.load_config(ROOT / config)
        plain = proav_core.build_component(cfg.model.autoencoder, clip=cfg.clip)
    depths = {"encoder": len(next(iter(plain.encoders.values())).blocks.blocks),
              "projector": len(next(iter(plain.projectors.values())).blocks),
              "decoder": len(next(iter(plain.decoders.values())).blocks.blocks)}
    overrides = [f"model.autoencoder.{p}.checkpoint_blocks={depths[p] if checkpoint else 0}" for p in PARTS]
    cfg = proav_core.load_config(ROOT / config, overrides)
    torch.manual_seed(0)
    with torch.device(device):
        ae = proav_core.build_component(cfg.model.autoencoder, clip=cfg.clip).train()
        c = cfg.clip
        video, audio = torch.rand(batch, 3, c.frames, c.height, c.width), torch.rand(batch, c.frames, c.height, c.width)
    def key(t: torch.Tensor) -> int:  # one storage: its address; meta storages have none
        storage = t.untyped_storage()
        return storage._cdata if t.is_meta else storage.data_ptr()

    weights = {key(p) for p in ae.parameters()}
    saved: dict[int, int] = {}
    per_block: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        if key(t) not in weights:
            saved[key(t)] = t.untyped_storage().nbytes()
        return t

    before: list[int] = []
    for block in checkpointed_blocks(ae):
        block.register_forward_pre_hook(lambda *_: before.append(sum(saved.values())))
        block.register_forward_hook(lambda *_: per_block.append(sum(saved.values()) - before.pop()))
    with saved_tensors_hooks(pack, lambda t: t):
        ae(video, audio)
    return {"checkpoint_blocks": {p: depths[p] if checkpoint else 0 for p in PARTS},
            "saved_bytes": sum(saved.values()), "largest_block_bytes": max(per_block) if not checkpoint else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="base,paper")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="meta")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    gib = 2**30
    results = []
    print(f"{'row':6} {'B':>2} {'plain GiB':>10} {'ckpt GiB':>9} {'+ block':>8} {'ratio':>6}")
    for row in args.rows.split(","):
        config = CONFIGS[row.strip()]
        plain, ckpt = measure(config, args.batch, False, args.device), measure(config, args.batch, True, args.device)
        peak_ckpt = ckpt["saved_bytes"] + plain["largest_block_bytes"]
        r = {"row": row.strip(), "config": config, "batch": args.batch, "plain": plain, "checkpointed": ckpt,
             "activation_peak_plain_bytes": plain["saved_bytes"], "activation_peak_checkpointed_bytes": peak_ckpt,
             "ratio": plain["saved_bytes"] / peak_ckpt}
        results.append(r)
        print(f"{r['row']:6} {args.batch:>2} {plain['saved_bytes'] / gib:>10.2f} {ckpt['saved_bytes'] / gib:>9.2f} "
              f"{plain['largest_block_bytes'] / gib:>8.2f} {r['ratio']:>6.1f}", flush=True)
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"mdsa-checkpointing-{args.device}.json")
    write_report({"what": "activation bytes autograd holds after one MDSA training forward "
                 "(float32); checkpointed peak = saved + the largest block recomputed "
                 "in backward", "device": args.device, "torch": torch.__version__,
                 "results": results}, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    run_script(main)
