"""The autoencoder's steps and learning rate on a demo's clips: held-out PSNR against steps and
seconds for each (steps, lr) pair, so the demo's budget can be split by measurement.

Synthesises and prepares the config's syncshapes clips as `proav demo` does (into
<output_dir>/<name>-ae-schedule/, reused when there), then trains the config's autoencoder
once per --runs entry (STEPS:LR, or STEPS:LR:STAGE2_FROM), each from scratch with the same
seed and clips, its stage 2 (disc_start) from STAGE2_FROM or else at the same share of the run
as in the config, held-out PSNR (EMA weights, every
held-out clip) every --eval-every steps. A finished run is read back, not trained again.
Prints a table and writes JSON with the commit.

    .venv/bin/python benchmarks/bench_ae_schedule.py [--config configs/demo.toml]
        [--runs 1100:2e-3 900:1.2e-3:650 ...] [--eval-every 100] [--clips 128] [--set KEY=VALUE ...]
        [--out benchmarks/measured/ae-schedule-<name>.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from rich.table import Table  # noqa: E402

from proav_core.benchmarking.quality import autoencoder_curve, git_commit  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.config import ExperimentConfig, config_from_dict, config_to_dict, load_config  # noqa: E402
from proav_core.demo import demo_configs, finished, synthesise_clips  # noqa: E402
from proav_core.machine import device_info  # noqa: E402
from proav_core.training.common import CHECKPOINT, run_dir  # noqa: E402
from proav_core.training.hardware import Hardware  # noqa: E402


def parse_run(text: str) -> tuple[int, float, int | None]:
    """"STEPS:LR" or "STEPS:LR:STAGE2_FROM" -> (steps, lr, stage 2's first step or None), or
    SystemExit naming --runs."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        steps, lr = int(parts[0]), float(parts[1])
        stage2 = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise SystemExit(f"--runs: expected STEPS:LR or STEPS:LR:STAGE2_FROM such as 900:1.2e-3 or 900:1.2e-3:650, "
                         f"got {text!r}") from None
    if steps < 1 or lr <= 0 or (stage2 is not None and not 0 <= stage2 <= steps):
        raise SystemExit(f"--runs: steps and lr must be positive and stage 2 start within the run, got {text!r}")
    return steps, lr, stage2


def seconds_per_step(curve: list[dict[str, float]]) -> float | None:
    """Training seconds per step between the first and the last evaluation (the start's warm-up left out)."""
    if len(curve) < 2:
        return None
    return round((curve[-1]["train_s"] - curve[0]["train_s"]) / (curve[-1]["step"] - curve[0]["step"]), 4)


def run_config(cached: ExperimentConfig, steps: int, lr: float, stage2: int | None, eval_every: int
               ) -> tuple[ExperimentConfig, int]:
    """(config, stage 2's first step) of one run on the cached data: its steps, lr, stage 2 from
    step `stage2` (None: at the config's own share of the run), evaluations of every held-out
    clip, its own run folder (<name>-<steps>-<lr>-stage2-<step>)."""
    tree = config_to_dict(cached)
    loop = tree["train"]["autoencoder"]
    loss = tree["model"]["autoencoder"].setdefault("loss", {})
    share = loss.get("disc_start", loop["steps"]) / loop["steps"]  # of the config's own run
    loss["disc_start"] = round(steps * share) if stage2 is None else stage2
    loop.update(steps=steps, eval_every=eval_every, eval_clips=10**6, checkpoint_every=steps)
    loop["optim"]["lr"] = lr
    tree["name"] = f"{cached.name}-{steps}-{lr:g}-stage2-{loss['disc_start']}"
    return config_from_dict(tree, source=f"{cached.name} (autoencoder schedule {steps}:{lr:g})"), loss["disc_start"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "demo.toml"))
    ap.add_argument("--runs", nargs="+", default=["1100:2e-3", "900:1.2e-3"], metavar="STEPS:LR")
    ap.add_argument("--eval-every", type=int, default=100, help="steps between held-out evaluations")
    ap.add_argument("--clips", type=int, default=128, help="syncshapes clips to synthesise (as proav demo)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/measured/ae-schedule-<name>.json)")
    args = ap.parse_args(argv)
    runs = [parse_run(r) for r in args.runs]
    if args.eval_every < 1:
        raise SystemExit("--eval-every: at least 1")

    from proav_core.data.prepare import prepare
    from proav_core.data.synth import syncshapes_params

    cfg = load_config(args.config, overrides=args.overrides)
    name = cfg.name
    cfg = config_from_dict({**config_to_dict(cfg), "name": f"{name}-ae-schedule"}, source=name)
    files, cached = demo_configs(cfg)
    base = run_dir(cfg)
    synthesise_clips(base / "data", args.clips, cfg.clip, syncshapes_params(cfg))
    prepare(files, base / "prepared")  # resumes an interrupted one, keeps a finished one
    cached = config_from_dict({**config_to_dict(cached), "output_dir": str(base / "runs")}, source=name)

    from proav_core.training.autoencoder_loop import train_autoencoder

    report = {"commit": git_commit(ROOT), "device": device_info(torch.device("cpu")), "config": args.config,
              "overrides": args.overrides, "clips": args.clips, "runs": []}
    for steps, lr, stage2 in runs:
        one, stage2_from = run_config(cached, steps, lr, stage2, args.eval_every)
        stage = run_dir(one) / "autoencoder"
        if not finished(stage / CHECKPOINT, steps):
            console.print(f"[bold cyan]{steps} steps at lr {lr:g}[/] (stage 2 from step "
                          f"{stage2_from})")
            train_autoencoder(one, Hardware(accelerator="cpu"), overwrite=stage.exists())
        curve = autoencoder_curve(stage / "metrics.csv")
        report["runs"].append({
            "steps": steps, "lr": lr, "stage2_from": stage2_from,
            "seconds_per_step": seconds_per_step(curve), "curve": curve,
            "final": {m: round(curve[-1][f"val/{m}_psnr"], 2) for m in ("video", "audio") if curve}})

    table = Table(title="held-out PSNR (EMA weights) against the autoencoder's steps and learning rate")
    for column in ("steps", "lr", "stage 2 from", "train s", "video dB", "mel dB", "video dB at each evaluation"):
        table.add_column(column, justify="right")
    for r in report["runs"]:
        final, curve = r["final"], r["curve"]
        table.add_row(str(r["steps"]), f"{r['lr']:g}", str(r["stage2_from"]),
                      f"{curve[-1]['train_s']:.0f}" if curve else "-", f"{final.get('video', float('nan')):.2f}",
                      f"{final.get('audio', float('nan')):.2f}",
                      " ".join(f"{row['val/video_psnr']:.1f}" for row in curve))
    console.print(table)
    out = write_report(report, args.out or ROOT / "benchmarks" / "measured" / f"ae-schedule-{name}.json")
    console.print(f"JSON: {out}", highlight=False)
    return 0


if __name__ == "__main__":
    run_script(main, console)
