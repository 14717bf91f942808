"""The generators' speed on equal terms: one training step and one sampling call of each, eager
and compiled, measured the same way in one process.

The peers table (bench_peers.py) reads each generator's s/step from its training log, so it
mixes how each run was trained (the demo's STDiT compiled as one network, the peers eager) and
how busy the machine was. Here every generator gets `proav bench`'s workloads (fresh weights,
synthetic latents of the demo's shape, the flow loss with AdamW and the EMA; the sampling call
with the config's sampler and decode) at the same batch, thread count and compile scope, the
generators taking turns within each mode.

    .venv/bin/python benchmarks/bench_peers_speed.py [--generators stdit=configs/demo.toml ...]
        [--set LABEL:KEY=VALUE ...] [--modes eager network] [--batch-size 32] [--sample-batch 96]
        [--threads 2] [--warmup 5] [--repeats 20] [--out PATH]

A generator that reads a file an earlier stage writes (AV-DiT's frozen backbone, JavisDiT's
prior) takes its path by `--set`, e.g. `--set av_dit_adapters:model.generator.backbone_checkpoint=...`;
a missing one stops the script in one line naming it. `av_dit_backbone` always gets
`model.generator.train=backbone` (AV-DiT's first step) before the overrides given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.table import Table  # noqa: E402

from proav_core.benchmarking.quality import git_commit  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.config import load_config  # noqa: E402
from proav_core.errors import UsageError  # noqa: E402

PEERS = ROOT / "configs" / "peers"
DEFAULT_GENERATORS = [f"stdit={ROOT / 'configs' / 'demo.toml'}", f"token_dit={ROOT / 'configs' / 'token_dit_tiny.toml'}",
                      f"uniform={PEERS / 'uniform_tiny.toml'}", f"javisdit_prior={PEERS / 'javisdit_prior_tiny.toml'}",
                      f"javisdit_prior_off={PEERS / 'javisdit_prior_off_tiny.toml'}",
                      f"av_dit_backbone={PEERS / 'av_dit_tiny.toml'}", f"av_dit_adapters={PEERS / 'av_dit_frozen_tiny.toml'}"]
DEFAULT_SETS = ["av_dit_backbone:model.generator.train=backbone"]
MODES = {"eager": None, "blocks": "blocks", "network": "network"}


def parse_sets(items: list[str], labels: list[str]) -> dict[str, list[str]]:
    """`LABEL:KEY=VALUE` items -> {label: [KEY=VALUE, ...]}; an unknown label is a UsageError."""
    out: dict[str, list[str]] = {label: [] for label in labels}
    for item in items:
        label, sep, override = item.partition(":")
        if not sep or label not in out:
            raise UsageError(f"--set {item!r}: expected LABEL:KEY=VALUE with LABEL one of {', '.join(labels)}")
        out[label].append(override)
    return out


def label_overrides(labels: list[str], given: list[str]) -> dict[str, list[str]]:
    """Each label's overrides: DEFAULT_SETS for the labels present, then the `--set` items given."""
    defaults = [item for item in DEFAULT_SETS if item.partition(":")[0] in labels]
    return parse_sets([*defaults, *given], labels)


def row_seconds(report: dict, key: str) -> dict | None:
    """The median and fastest seconds of the report's row `key` (None when it was not measured)."""
    for row in report["rows"]:
        if row["key"] == key:
            return {"median": row["seconds"]["median"], "min": row["seconds"]["min"], "batch": row["batch"]}
    return None


def main(argv: list[str] | None = None) -> int:
    from proav_core.benchmarking.runner import BenchSettings, run_benchmarks

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generators", nargs="+", default=DEFAULT_GENERATORS, metavar="LABEL=CONFIG")
    ap.add_argument("--set", dest="sets", action="append", default=None, metavar="LABEL:KEY=VALUE")
    ap.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["eager", "network"])
    ap.add_argument("--batch-size", type=int, default=32, help="training batch (the demo's: 32)")
    ap.add_argument("--sample-batch", type=int, default=96, help="samples per sampling call (the demo's: 96)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--sample-repeats", type=int, default=3)
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "peers-speed.json"))
    args = ap.parse_args(argv)

    specs = [g.partition("=") for g in args.generators]
    if any(not sep for _, sep, _ in specs):
        raise UsageError("--generators takes LABEL=CONFIG items, e.g. stdit=configs/demo.toml")
    labels = [label for label, _, _ in specs]
    sets = label_overrides(labels, args.sets or [])
    configs = {label: load_config(path, sets[label]) for label, _, path in specs}

    report = {"commit": git_commit(), "settings": vars(args), "generators": {label: {"config": path,
              "overrides": sets[label]} for label, _, path in specs}}
    for mode in args.modes:
        for label, cfg in configs.items():
            console.print(f"{label}: {mode}", highlight=False)
            common = dict(accelerator=args.accelerator, threads=args.threads, batch_size=args.batch_size,
                          sample_batch=args.sample_batch, cfg_scale=1.0, flops=False, compile_scope=MODES[mode])
            step = run_benchmarks(cfg, BenchSettings(warmup=args.warmup, repeats=args.repeats,
                                                     skip=("autoencoder", "sample"), **common))
            sample = run_benchmarks(cfg, BenchSettings(warmup=1, repeats=args.sample_repeats,
                                                       skip=("autoencoder", "generator"), **common))
            entry = report["generators"][label]
            entry["device"] = step["device"]
            entry["parameters"] = {"total": step["parameters"], "trainable": step["trainable_parameters"]}
            entry[mode] = {"step": row_seconds(step, "generator_step"), "sample": row_seconds(sample, "sample"),
                           "decode": row_seconds(sample, "decode"), "notes": step["notes"]}
    write_report(report, args.out)

    table = Table(title=f"generator step (batch {args.batch_size}; median, fastest) and sampling call ({args.sample_batch} "
                        f"clips, unguided, decode included; median per clip), {args.threads} threads, "
                        f"commit {report['commit'][:7]}")
    table.add_column("generator")
    table.add_column("generator parameters (trainable)")
    for mode in args.modes:
        table.add_column(f"s/step {mode}")
        table.add_column(f"s/sample {mode} (of it decode)")
    for label, g in report["generators"].items():
        cells = []
        for mode in args.modes:
            step, sample, decode = g[mode]["step"], g[mode]["sample"], g[mode]["decode"]
            cells += [f"{step['median']:.4f} ({step['min']:.4f})",
                      f"{sample['median'] / sample['batch']:.4f} ({decode['median'] / decode['batch']:.4f})"]
        p = g["parameters"]
        table.add_row(label, f"{p['total']['generator']:,} ({p['trainable']['generator']:,})", *cells)
    console.print(table)
    console.print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    run_script(main, console)
