"""STDiT and the peer generators (AV-DiT, JavisDiT, UniForm) compared on the same data.

Uses a finished `proav demo` run of --demo-config (its autoencoder, latent cache and held-out
clips). Each generator config is trained on those latents for the same number of steps (in
<output_dir>/<demo>-peer-<label>; a finished run is reused, an unfinished one resumed), then
sampled and scored (proav_core.benchmarking.peers): s/step, s/sample, parameters, shape_sync
of the samples (sync F1 also above its chance level, the samples shuffled among themselves;
the overlap of their timing mix with that of every clip of the data, training and held-out),
offline FVD and KVD. Prints a table, writes JSON (benchmarks/measured/peers-<demo>.json)
with the commit, and a contact sheet (<output_dir>/<demo>-peers.png: per class a real clip,
then two samples of each generator).

    .venv/bin/python benchmarks/bench_peers.py [--demo-config configs/demo.toml]
        [--demo-set name=demo-quality] [--generators configs/demo.toml configs/peers/av_dit_tiny.toml ...] [--steps N]
        [--samples-per-class 5] [--cfg-scale 2 | --guide-scale 1.5 [--guide-condition prompt]] [--seeds 0 1 2]
        [--no-fvd] [--out PATH]
A generator config may carry a label: `label=path` (e.g. stdit=configs/demo.toml).
--seeds trains and samples each generator at every seed given and adds the spread over them
(mean, min, max): one training seed can put a generator's samples on one timing pattern that
its other seeds do not (docs/quality.md, "The samples' timing mix").
--guide-scale W: autoguidance by each run's own guide.ckpt (the configs that extend demo.toml
keep one at [train.generator] guide_fraction) in place of CFG, the guide under its null condition
or, with --guide-condition prompt, under the sample's prompt (the demo's since 37a0057:
--guide-scale 1.5 --guide-condition prompt).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from rich.table import Table  # noqa: E402

from proav_core.benchmarking.quality import git_commit  # noqa: E402
from proav_core.benchmarking.report import run_script, spread_text, write_report  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.config import load_config  # noqa: E402
from proav_core.machine import device_info  # noqa: E402
from proav_core.training.hardware import device_type  # noqa: E402

DEFAULT_GENERATORS = [f"stdit={ROOT / 'configs' / 'demo.toml'}",
                      *(str(ROOT / "configs" / "peers" / f"{n}_tiny.toml") for n in ("av_dit", "javisdit", "uniform"))]


def fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    from proav_core.benchmarking.peers import compare, generator_config, seed_spread
    from proav_core.demo_scores import above_chance

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-config", default=str(ROOT / "configs" / "demo.toml"))
    ap.add_argument("--demo-set", dest="demo_overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override in the demo config, e.g. name=demo-quality to use that run")
    ap.add_argument("--generators", nargs="+", default=DEFAULT_GENERATORS, metavar="[LABEL=]CONFIG")
    ap.add_argument("--steps", type=int, default=None, help="training steps of every generator (default: the demo's)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                    help="train and sample every generator at each of these seeds (labels <label>_s<seed>) and "
                         "report the spread over them (default: each config's own seed, once)")
    ap.add_argument("--samples-per-class", type=int, default=5)
    ap.add_argument("--cfg-scale", type=float, default=None,
                    help="classifier-free guidance scale (default 2; 1 with --guide-scale)")
    ap.add_argument("--guide-scale", type=float, default=1.0,
                    help="autoguidance scale by each run's own guide.ckpt (default 1: off; the demo's: 1.5)")
    ap.add_argument("--guide-condition", choices=("null", "prompt"), default="null",
                    help="with --guide-scale: the guide under its null condition or the sample's prompt (the demo's)")
    ap.add_argument("--no-fvd", dest="fvd", action="store_false", help="skip the I3D FVD and KVD (about 1-3 s per clip)")
    ap.add_argument("--fvd-real-clips", type=int, default=64, help="training clips on the real side of FVD/KVD")
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.cfg_scale is None:
        args.cfg_scale = 1.0 if args.guide_scale != 1.0 else 2.0

    demo_cfg = load_config(args.demo_config, args.demo_overrides)
    steps = args.steps or demo_cfg.train.generator.steps
    from proav_core.demo import demo_configs

    cached = demo_configs(demo_cfg)[1]
    peers = []
    for spec in args.generators:
        label, _, path = spec.rpartition("=")
        for seed in args.seeds or [None]:
            peers.append(generator_config(path, cached, steps, label=label or None, seed=seed))
    report = {"commit": git_commit(), "device": device_info(torch.device(device_type(args.accelerator))),
              "demo_config": args.demo_config, "demo_overrides": args.demo_overrides,
              "steps": steps, "seeds": args.seeds,
              **compare(demo_cfg, args.demo_config, peers, samples_per_class=args.samples_per_class,
                        cfg_scale=args.cfg_scale, guide_scale=args.guide_scale,
                        guide_condition=args.guide_condition, fvd=args.fvd,
                        fvd_real_clips=args.fvd_real_clips,
                        accelerator=args.accelerator, say=lambda m: console.print(m, highlight=False))}

    guidance = (f"autoguidance {args.guide_scale:g} (guide under the {args.guide_condition})"
                if args.guide_scale != 1.0 else f"CFG {args.cfg_scale:g}")
    table = Table(title=f"generators on {report['held_out_clips']} held-out syncshapes clips, {steps} steps each, "
                        f"{guidance} (commit {report['commit'][:7]})")
    for col in ("generator", "params (trainable)", "s/step", "train min", "s/sample", "1 object", "whole shape",
                "video class", "audio class", "sync F1", "shuffled", "above chance", "timing overlap", "FVD", "KVD"):
        table.add_column(col)
    chance = report["reference"]["shuffled real pairs"]["sync_f1"]
    for name in ("real clips", "shuffled real pairs"):
        r = report["reference"][name]
        held = report["reference"].get("held-out clips", {}) if name == "real clips" else {}
        vs_chance = ((fmt(chance), fmt(above_chance(r["sync_f1"], chance))) if name == "real clips" else ("-", "-"))
        table.add_row(name, "-", "-", "-", "-", *(fmt(r[k]) for k in
                      ("single_object_share", "whole_shape_share", "video_accuracy", "audio_accuracy", "sync_f1")),
                      *vs_chance, "-",
                      *(fmt(held.get(k, {}).get("value"), 4) for k in ("fvd", "kvd")))
    for label, g in report["generators"].items():
        p = g["parameters"]
        table.add_row(label, f"{p['total']:,} ({p['trainable']:,})", fmt(g["s_per_step"]), fmt(g["train_minutes"]),
                      fmt(g["s_per_sample_batched"]),
                      *(fmt(g["shape_sync"][k]) for k in ("single_object_share", "whole_shape_share", "video_accuracy",
                                                          "audio_accuracy", "sync_f1")),
                      fmt(g["shuffled samples"]["sync_f1"]), fmt(g["sync_above_chance"]),
                      fmt(g["shape_sync"].get("pattern_overlap")),
                      *(fmt(g.get(k, {}).get("value"), 4) for k in ("fvd", "kvd")))
    console.print(table)
    data_mix = report["reference"]["data timing mix"]
    console.print(f"timing overlap: sum over bounce patterns of the smaller share, the samples' against the data's "
                  f"{data_mix['clips']} clips (training and held-out): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in data_mix["bounce_patterns"].items()), highlight=False)
    if args.seeds and len(args.seeds) > 1:
        report["seed_spread"] = seed_spread(report["generators"], args.seeds)
        spread = Table(title=f"mean (min-max) over seeds {', '.join(map(str, args.seeds))}")
        columns = {"1 object": "single_object_share", "whole shape": "whole_shape_share",
                   "steady shape": "steady_shape_share",
                   "video class": "video_accuracy", "audio class": "audio_accuracy",
                   "sync F1": "sync_f1", "above chance": "sync_above_chance",
                   "on the commonest pattern": "modal_pattern_share", "timing overlap": "pattern_overlap"}
        for col in ("generator", *columns):
            spread.add_column(col)
        for label, figures in report["seed_spread"].items():
            spread.add_row(label, *(spread_text(figures[k]) for k in columns.values()))
        console.print(spread)
    out = Path(args.out or ROOT / "benchmarks" / "measured" / f"peers-{demo_cfg.name}.json")
    write_report(report, out)
    console.print(f"written {out}; contact sheet {report['contact_sheet']}")
    return 0


if __name__ == "__main__":
    run_script(main, console)
