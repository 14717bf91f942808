"""The paper's Table-5 MDSA ablations at one equal budget per row: each row's autoencoder is
trained from scratch for --minutes-per-row on the same syncshapes clips (the quality
benchmark's reconstruction part), then scored on held-out clips. Prints the table beside the
paper's rFVD, says whether the paper's ordering holds, and writes JSON. Rows already in the
JSON (same base, same budget) are kept, and a row interrupted mid-run continues from its last
checkpoint with the steps it was given (--fresh starts every row over).

    .venv/bin/python benchmarks/bench_ablations.py --base configs/demo.toml --minutes-per-row 4
        [--rows full no_kl ...] [--clips 128] [--stage2-share 0.3] [--fresh] [--out PATH]

--steps-per-row N in place of --minutes-per-row trains each row for N steps, whatever they take:
a row beside one measured on a faster or slower machine, at the same steps and schedule.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.table import Table  # noqa: E402

from proav_core.benchmarking.ablations import PAPER_TABLE5, ablation_config, paper_order_holds  # noqa: E402
from proav_core.benchmarking.quality import git_commit, run_reconstruction  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.config import config_from_dict, config_to_dict, load_config  # noqa: E402
from proav_core.training.hardware import Hardware  # noqa: E402
from proav_plugins.data.syncshapes_texture import applies_to, texture_floor  # noqa: E402


def shared_data(base, clips: int):
    """Synthesise and prepare the base config's syncshapes clips once (as the demo does, in
    <output_dir>/<name>-ablations); the base config reading them, its runs in that folder."""
    from proav_core.data.prepare import prepare
    from proav_core.data.synth import syncshapes_params
    from proav_core.demo import demo_configs, synthesise_clips

    named = config_from_dict({**config_to_dict(base), "name": f"{base.name}-ablations"}, source="ablation data")
    folder = Path(named.output_dir) / named.name
    files_cfg, cached = demo_configs(named)
    synthesise_clips(folder / "data", clips, base.clip, syncshapes_params(base))
    prepare(files_cfg, folder / "prepared")
    return config_from_dict({**config_to_dict(cached), "name": base.name, "output_dir": str(folder)},
                            source=f"{base.name} (ablation base)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=str(ROOT / "configs" / "demo.toml"), help="config the rows are applied to")
    budget = ap.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes-per-row", type=float, help="each row's training time (steps calibrated here)")
    budget.add_argument("--steps-per-row", type=int, help="each row's steps, whatever they take (to set a row "
                        "beside one measured on another machine at the same steps)")
    ap.add_argument("--rows", nargs="+", default=list(PAPER_TABLE5), help="ablation file stems in configs/ablations")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--clips", type=int, default=128)
    ap.add_argument("--stage2-share", type=float, default=0.3, help="share of each run in stage 2 (KL finetune)")
    ap.add_argument("--fresh", action="store_true", help="start every row over: neither the JSON's rows nor a row's "
                    "interrupted run are kept")
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/measured/ablations-<base>.json)")
    args = ap.parse_args(argv)

    base = load_config(args.base, overrides=args.overrides)
    out = Path(args.out or ROOT / "benchmarks" / "measured" / f"ablations-{base.name}.json")
    report = json.loads(out.read_text()) if out.is_file() else {}
    budget = ({"minutes_per_row": args.minutes_per_row} if args.steps_per_row is None
              else {"steps_per_row": args.steps_per_row})
    if args.fresh or report.get("base") != base.name or {k: report.get(k) for k in budget} != budget:
        report = {"base": base.name, **budget, "rows": {}}
    data_base = shared_data(base, args.clips)
    for row in args.rows:
        if row in report["rows"]:
            console.print(f"{row}: kept from {out}", highlight=False)
            continue
        cfg = ablation_config(data_base, ROOT / "configs" / "ablations" / f"{row}.toml")
        report["rows"][row] = run_reconstruction(cfg, Hardware(accelerator=args.accelerator),
                                                 minutes=args.minutes_per_row, steps=args.steps_per_row,
                                                 stage2_share=args.stage2_share, resume=not args.fresh,
                                                 say=console.print)
        report["rows"][row]["commit"] = git_commit()
        write_report(report, out)
    report["ordering"] = paper_order_holds({r: v["final"]["video_psnr"] for r, v in report["rows"].items()})
    if applies_to(base):
        report["mel_content_floor"] = texture_floor(base)[0]["all"]["floor_psnr"]
    write_report(report, out)

    per_row = f"{args.minutes_per_row:g} min" if args.steps_per_row is None else f"{args.steps_per_row} steps"
    table = Table(title=f"MDSA ablations on syncshapes, {per_row} per row ({base.name} size)")
    for column in ("row", "steps", "video dB", "mel dB", "paper rFVD"):
        table.add_column(column, justify="right")
    for row, r in report["rows"].items():
        table.add_row(row, str(r["steps"]), f"{r['final']['video_psnr']:.2f}", f"{r['final'].get('audio_psnr', 0):.2f}",
                      str(PAPER_TABLE5.get(row, "-")))
    console.print(table)
    order = report["ordering"]
    console.print(f"paper's order {'holds' if order['holds'] else 'does not hold'}: "
                  f"{order['agreeing_pairs']}/{order['pairs']} pairs agree; measured best to worst: "
                  f"{', '.join(order['measured_order'])}", highlight=False)
    if "mel_content_floor" in report:
        console.print(f"mel content-only floor of these clips: {report['mel_content_floor']} dB (the ambience's noise "
                      "texture; above it an autoencoder stores noise: benchmarks/bench_mel_texture.py)", highlight=False)
    console.print(f"JSON: {out}", highlight=False)
    return 0


if __name__ == "__main__":
    run_script(main, console)
