"""Training on a small CPU: one process with every core's thread, or one one-thread process per
core (data parallel, the batch split between them), at the same global batch.

    .venv/bin/python benchmarks/bench_cpu_ranks.py [--config configs/demo.toml]
        [--stages autoencoder generator] [--ranks 1 2] [--ae-steps 120] [--generator-steps 600]
        [--latents runs/demo/latents] [--repeats 2] [--out benchmarks/results/cpu-ranks.json]

Each run is a fresh `proav train STAGE CONFIG --accelerator cpu --devices R` with the config's
batch divided by R (`train.STAGE.batch_size` is per process; proav's batches take the same
stream positions either way, so R processes at B / R see the clips one process sees at B), and
the generator compiled as the demo trains it (`--compile --compile-scope network`). Each
process keeps cores / R threads (proav_core.training.hardware.share_cpu_threads). The figure is
the loop's seconds per step from the run's metrics.csv, after the first logged steps (start-up
and compilation left out), and the whole command's wall seconds; rank counts take turns within
each repeat. The generator stage trains on an encoded latent cache (`--latents`, as `proav
demo` writes it under runs/demo/latents); the autoencoder stage needs none. Each run's folder
(<output_dir>/cpu-ranks-STAGE-rR) is removed once its metrics are read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proav_core.benchmarking.quality import git_commit, loop_seconds_per_step  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.config import load_config  # noqa: E402
from proav_core.errors import UsageError  # noqa: E402

STAGES = ("autoencoder", "generator")
SKIP_STEPS = {"autoencoder": 20, "generator": 100}  # start-up (and the generator's compilation) left out


def split_batch(batch_size: int, ranks: int, key: str) -> int:
    """The per-process batch for `ranks` processes at the global batch `batch_size`."""
    if ranks < 1 or batch_size % ranks:
        raise UsageError(f"{key} = {batch_size} does not split over {ranks} processes: give --ranks that divide it")
    return batch_size // ranks


def train_command(stage: str, config: Path, ranks: int, batch: int, steps: int, run_name: str,
                  latents: Path | None) -> list[str]:
    """`proav train STAGE CONFIG ...` for one measured run."""
    proav = Path(sys.executable).with_name("proav")
    cmd = [str(proav)] if proav.exists() else [sys.executable, "-m", "proav_core"]
    cmd += ["train", stage, str(config), "--accelerator", "cpu", "--devices", str(ranks), "--overwrite",
            "--set", f'name="{run_name}"', "--set", f"train.{stage}.batch_size={batch}",
            "--set", f"train.{stage}.steps={steps}", "--set", f"train.{stage}.log_every=20"]
    if stage == "generator":
        cmd += ["--compile", "--compile-scope", "network"]
        if latents is not None:
            cmd += ["--latents", str(latents)]
    return cmd


def summarise(runs: list[dict]) -> dict[str, dict]:
    """{stage: {ranks: median s/step and wall s}, speed-up of each rank count over 1 process}."""
    out: dict[str, dict] = {}
    for stage in dict.fromkeys(r["stage"] for r in runs):
        rows = {}
        for ranks in sorted({r["ranks"] for r in runs if r["stage"] == stage}):
            mine = [r for r in runs if r["stage"] == stage and r["ranks"] == ranks]
            rows[ranks] = {"seconds_per_step": round(statistics.median(r["seconds_per_step"] for r in mine), 5),
                           "wall_seconds": statistics.median(r["wall_seconds"] for r in mine), "runs": len(mine)}
        if 1 in rows:
            for row in rows.values():
                row["speedup_over_one_process"] = round(rows[1]["seconds_per_step"] / row["seconds_per_step"], 3)
        out[stage] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.toml")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--ae-steps", type=int, default=120)
    ap.add_argument("--generator-steps", type=int, default=600)
    ap.add_argument("--latents", type=Path, default=ROOT / "runs" / "demo" / "latents")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cpu-ranks.json")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    if "generator" in args.stages and not (args.latents / "latents.json").is_file():
        raise UsageError(f"--latents {args.latents}: no encoded latent cache there (no latents.json); run `proav "
                         "demo` (it writes runs/demo/latents) or `proav encode`, or leave out the generator stage")
    steps = {"autoencoder": args.ae_steps, "generator": args.generator_steps}
    batches = {s: {r: split_batch(getattr(cfg.train, s).batch_size, r, f"train.{s}.batch_size") for r in args.ranks}
               for s in args.stages}
    runs: list[dict] = []
    for stage in args.stages:
        for repeat in range(args.repeats):
            for ranks in args.ranks:
                name = f"cpu-ranks-{stage}-r{ranks}"
                cmd = train_command(stage, args.config, ranks, batches[stage][ranks], steps[stage], name, args.latents)
                console.print(f"{stage}, {ranks} process(es) x batch {batches[stage][ranks]}, repeat {repeat + 1}")
                start = time.perf_counter()
                proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                      env={**os.environ, "COLUMNS": "100"})
                wall = time.perf_counter() - start
                if proc.returncode:
                    raise UsageError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
                folder = ROOT / cfg.output_dir / name
                sps = loop_seconds_per_step(folder / stage / "metrics.csv", skip=SKIP_STEPS[stage])
                shutil.rmtree(folder)
                runs.append({"stage": stage, "ranks": ranks, "batch_per_process": batches[stage][ranks],
                             "steps": steps[stage], "repeat": repeat, "seconds_per_step": round(sps, 5),
                             "wall_seconds": round(wall, 1), "command": cmd[1:]})
                console.print(f"  {sps * 1000:.1f} ms/step, {wall:.1f} s in all")
    report = {"what": __doc__.splitlines()[0], "commit": git_commit(ROOT), "config": str(args.config),
              "cpu_count": os.cpu_count(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "summary": summarise(runs), "runs": runs}
    write_report(report, args.out)
    for stage, rows in report["summary"].items():
        for ranks, row in rows.items():
            console.print(f"{stage:12s} {ranks} process(es): {row['seconds_per_step'] * 1000:7.1f} ms/step "
                          f"(x{row.get('speedup_over_one_process', float('nan')):.2f}), wall {row['wall_seconds']:.1f} s")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_script(main, console)
