"""Audio-to-video and video-to-audio on syncshapes held-out clips, judged by shape_sync.

Uses a finished `proav demo` run of the config (its autoencoder, latent cache, held-out clips
and generator). When the demo's generator was trained for joint alone, it is the zero-shot
model and a multi-task generator is trained on the same latents (the config's generator with
train.generator.tasks = --tasks; in <output_dir>/<name>-tasks, resumed when there). When the
demo trains a task mix itself (configs/demo.toml), its generator is the trained model (unless
--tasks asks for another mix) and a joint generator is trained for zero-shot (<name>-joint).
--multitask-ckpt scores another multi-task generator trained on the demo's latents (another
recipe, a peer) as the trained model. --no-joint trains no joint generator: the zero-shot
figures are then the multi-task generator's, run zero-shot (for a long run, e.g. 16 frames,
whose joint generator would cost as much training again).
Then scores, beside the real pairs and the shuffled-condition baseline:
  zero-shot   the joint generator, given planes held on the flow path
  trained     the multi-task generator, given planes clean with its task embedding
  (and the multi-task generator run zero-shot, for comparison)
Prints a table and writes JSON (benchmarks/measured/tasks-<name>.json) with the commit.

    .venv/bin/python benchmarks/bench_tasks.py [--config configs/demo.toml]
        [--tasks "{joint = 0.5, a2v = 0.25, v2a = 0.25}"] [--steps N] [--set KEY=VALUE ...]
        [--run-name NAME | --multitask-ckpt CKPT] [--no-joint] [--seeds 0 1 2] [--given-label probe none] [--cfg 2]
        [--guide-scale 2] [--out PATH]

With several --seeds each model samples the held-out clips once per seed; the figures and the
targets are judged on the means (each seed's figures kept under "per_seed").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from rich.table import Table  # noqa: E402

from proav_core.benchmarking.quality import git_commit  # noqa: E402
from proav_core.benchmarking.report import run_script, write_report  # noqa: E402
from proav_core.benchmarking.tasks_eval import evaluate_tasks, mean_over_seeds, task_targets  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.config import config_from_dict, config_to_dict, load_config  # noqa: E402
from proav_core.errors import UsageError  # noqa: E402
from proav_core.machine import device_info  # noqa: E402
from proav_core.training.hardware import device_type  # noqa: E402

DEFAULT_TASKS = "{joint = 0.5, a2v = 0.25, v2a = 0.25}"
SHOWN = ("sync_f1", "av_class_agreement", "single_object_share", "bounces_per_clip", "onsets_per_clip")


def held_out(cfg):
    from proav_core.build import build_component
    from proav_core.demo_scores import Clip

    test = build_component(cfg.dataset, clip=cfg.clip, split="test")
    return [Clip(it["video"], it["waveform"], test.classes[int(it["label"])], it["audio"])
            for it in map(test.__getitem__, range(len(test)))]


def given_multitask(args, cfg):
    """(config, checkpoint, its peeked contents) of --multitask-ckpt, or None without it; a
    UsageError naming the option for a missing file, a generator trained for joint alone, or
    --tasks beside it."""
    from proav_core.errors import CheckpointError
    from proav_core.training.checkpoint import peek_checkpoint, require_kind

    path = args.multitask_ckpt
    if path is None:
        return None
    if args.tasks is not None or args.steps is not None:
        raise UsageError("--multitask-ckpt scores a generator already trained; --tasks and --steps train one here: "
                         "give one or the other")
    try:
        raw = peek_checkpoint(path)
        require_kind(raw, path, "generator", "--multitask-ckpt")
    except CheckpointError as err:
        raise UsageError(f"--multitask-ckpt: {err}") from err
    if set(raw.get("tasks") or {"joint": 1.0}) == {"joint"}:
        raise UsageError(f"--multitask-ckpt {path}: a generator trained for joint alone; give one trained with "
                         "train.generator.tasks holding a2v and v2a")
    run_config = path.parent / "config.toml"
    return (load_config(run_config) if run_config.is_file() else cfg), path, raw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "demo.toml"))
    ap.add_argument("--tasks", default=None, help="the multi-task mix (TOML table; default: the demo generator's own "
                    f"mix when it was trained for tasks, else {DEFAULT_TASKS})")
    ap.add_argument("--steps", type=int, default=None, help="multi-task generator steps (default: the config's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--run-name", default=None, help="run name of the multi-task generator (default <name>-tasks)")
    ap.add_argument("--multitask-ckpt", type=Path, default=None,
                    help="score this finished multi-task generator checkpoint (trained on the demo's latents, e.g. "
                         "another recipe's <run>/generator/last.ckpt; its run's config.toml beside it, else --config's) "
                         "as the trained model, in place of the demo's or one trained here")
    ap.add_argument("--no-joint", action="store_true",
                    help="train no joint generator for zero-shot when the demo's generator was trained for tasks "
                         "(zero-shot figures: the multi-task generator's alone)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="sampling seeds; figures are their means")
    ap.add_argument("--given-label", nargs="+", default=["probe"], choices=["probe", "none"],
                    help="what prompts the a2v / v2a samples: the class probe's reading of the given side, no "
                         "prompt, or both (each model is scored once per value)")
    ap.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale of the a2v / v2a samples "
                    "(on the probe's class; the demo's examples use 2)")
    ap.add_argument("--guide-scale", type=float, default=1.0,
                    help="autoguidance scale, the guide being each run's generator/guide.ckpt (1: none)")
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from proav_core.demo import demo_configs, generator_stage
    from proav_core.sampling import SamplingPipeline
    from proav_core.training.checkpoint import peek_checkpoint
    from proav_core.training.common import CHECKPOINT, GUIDE_CHECKPOINT, run_dir
    from proav_core.training.hardware import Hardware

    steps = [f"train.generator.steps={args.steps}"] if args.steps else []
    base = load_config(args.config, overrides=args.overrides)
    _, cfg = demo_configs(base)
    demo = run_dir(cfg)
    demo_ckpt = demo / "generator" / CHECKPOINT
    if not demo_ckpt.is_file() or not (demo / "latents").is_dir():
        raise UsageError(f"{demo} holds no finished demo run; run `proav demo --config {args.config}` first")

    def generator_run(name: str, tasks: str):
        """A generator with `tasks` on the demo's latents, trained here unless finished (demo.generator_stage)."""
        run_cfg = config_from_dict({**config_to_dict(load_config(args.config, overrides=[
            *args.overrides, *steps, f"train.generator.tasks={tasks}"])), "name": name,
            "dataset": config_to_dict(cfg)["dataset"]}, source=f"{name} generator")
        return run_cfg, generator_stage(run_cfg, Hardware(accelerator=args.accelerator), demo / "latents")

    def joint_run():
        """A joint generator for zero-shot on the demo's latents (None with --no-joint)."""
        return (None, None) if args.no_joint else generator_run(f"{cfg.name}-joint", "{joint = 1.0}")

    # The demo's own generator is the joint one (zero-shot) when it was trained for joint alone;
    # when the demo trains a task mix (configs/demo.toml does), it is the trained multi-task model
    # (unless --tasks asks for another mix) and a joint generator is trained for zero-shot.
    demo_tasks = peek_checkpoint(demo_ckpt).get("tasks") or {"joint": 1.0}
    given = given_multitask(args, cfg)
    began = time.perf_counter()
    trained = None  # what the scored multi-task generator was trained for, and how long
    if given is not None:
        multi, multi_ckpt, trained = given
        joint, joint_ckpt = (cfg, demo_ckpt) if set(demo_tasks) == {"joint"} else joint_run()
    elif set(demo_tasks) == {"joint"}:
        joint, joint_ckpt = cfg, demo_ckpt
        multi, multi_ckpt = generator_run(args.run_name or f"{cfg.name}-tasks", args.tasks or DEFAULT_TASKS)
    else:
        joint, joint_ckpt = joint_run()
        if args.tasks is None:
            multi, multi_ckpt = cfg, demo_ckpt
        else:
            multi, multi_ckpt = generator_run(args.run_name or f"{cfg.name}-tasks", args.tasks)
    train_s = time.perf_counter() - began

    trained = trained or peek_checkpoint(multi_ckpt)
    real = held_out(cfg)
    params = {k: v for k, v in config_to_dict(base)["dataset"].items() if k in ("num_classes", "shape_size")}
    models = {"zero-shot (joint generator)": (joint, joint_ckpt, "zero_shot"),
              "trained (multi-task generator)": (multi, multi_ckpt, "trained"),
              "zero-shot (multi-task generator)": (multi, multi_ckpt, "zero_shot")}
    if joint_ckpt is None:  # --no-joint
        del models["zero-shot (joint generator)"]
    runs = {(name if label == "probe" else f"{name}, no prompt"): (*model, label)
            for label in args.given_label for name, model in models.items()}
    report = {"commit": git_commit(), "device": device_info(torch.device(device_type(args.accelerator))),
              "config": args.config, "tasks": trained["tasks"],
              "cfg_scale": args.cfg, "guide_scale": args.guide_scale,
              "multitask_run": str(multi_ckpt), "joint_run": str(joint_ckpt) if joint_ckpt else None,
              "multitask_steps": trained["step"], "train_s_this_call": round(train_s, 1),
              "held_out_clips": len(real), "runs": {}}
    for name, (c, ckpt, hold, label) in runs.items():
        pipe = SamplingPipeline.from_checkpoint(c, ckpt, demo / "autoencoder" / CHECKPOINT)  # trained on its latents
        if args.guide_scale != 1.0:
            pipe.load_guide(ckpt.parent / GUIDE_CHECKPOINT)
        rep = mean_over_seeds([evaluate_tasks(pipe, real, params, hold=hold, seed=s, given_label=label,
                                              cfg_scale=args.cfg, guide_scale=args.guide_scale) for s in args.seeds])
        rep["targets"] = task_targets(rep)
        report["runs"][name] = rep
        console.print(f"{name}: a2v {rep['a2v']['generated']}, v2a {rep['v2a']['generated']}", highlight=False)

    seeds = f", mean of seeds {args.seeds}" if len(args.seeds) > 1 else ""
    table = Table(title=f"a2v / v2a on {len(real)} held-out syncshapes clips (shape_sync{seeds})")
    for col in ("model, task", "set", "sync F1", "above chance", "class agree", "1 object", "bounces", "onsets"):
        table.add_column(col)
    first = next(iter(report["runs"].values()))
    table.add_row("-", "real pairs", str(first["real pairs"]["sync_f1"]), "-",
                  *[str(first["real pairs"][k]) for k in SHOWN[1:]])
    for name, rep in report["runs"].items():
        short = name.replace("zero-shot (joint generator)", "joint, zero-shot").replace(
            "trained (multi-task generator)", "multi, trained").replace("zero-shot (multi-task generator)",
                                                                        "multi, zero-shot")
        for task in ("a2v", "v2a"):
            for which in ("generated", "shuffled condition"):
                table.add_row(f"{short}, {task}", "output" if which == "generated" else "shuffled",
                              str(rep[task][which]["sync_f1"]),
                              str(rep[task]["sync_above_chance"]) if which == "generated" else "-",
                              *[str(rep[task][which][k]) for k in SHOWN[1:]])
    console.print(table)
    out = Path(args.out or ROOT / "benchmarks" / "measured" / f"tasks-{base.name}.json")
    write_report(report, out)
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    run_script(main, console)
