"""`proav demo`: the embedded default job (configs/demo.toml) end to end on syncshapes."""

from __future__ import annotations

from importlib import resources

import click
from rich import box
from rich.console import Group
from rich.table import Table

from proav_core.cli.common import console, hardware_options


def default_config_path() -> str:
    return str(resources.files("proav_core") / "configs" / "demo.toml")


@click.command("demo")
@click.option("--config", "config", default=None, help="config to run (default: the packaged configs/demo.toml)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config value")
@click.option("--clips", default=128, show_default=True, type=click.IntRange(min=8), help="clips to synthesise")
@click.option("--samples-per-class", default=24, show_default=True, type=click.IntRange(min=1),  # demo.SAMPLES_PER_CLASS
              help="samples per class that are scored (the contact sheet shows 2)")
@click.option("--cfg", "cfg_scale", default=2.0, show_default=True, type=float,
              help="classifier-free guidance scale (used when the config keeps no autoguidance guide)")
@click.option("--guide-scale", default=1.5, show_default=True, type=float,  # demo.GUIDE_SCALE
              help="autoguidance scale, when the config keeps a guide ([train.generator] guide_fraction)")
@click.option("--fresh", is_flag=True, help="delete the run folder first instead of resuming it")
@click.option("--compile/--no-compile", "compile_generator", default=None,
              help="torch.compile the generator's training step as one network (default: where torch.compile "
                   "runs here, else eagerly with a note; --compile insists); the autoencoder trains eagerly")
@hardware_options
def command(config, overrides, clips, samples_per_class, cfg_scale, guide_scale, fresh, compile_generator,
            **hardware) -> None:
    """Synthesise syncshapes, train the autoencoder, encode, train the generator, sample, score the
    samples, real clips and shuffled real pairs (shape_sync and AV-Align), draw a contact sheet."""
    from proav_core.config import load_config
    from dataclasses import replace

    from proav_core.demo import generator_compile, run_demo
    from proav_core.demo_scores import metric, timing_mix
    from proav_core.machine import describe
    from proav_core.training.hardware import Hardware

    path = config or default_config_path()
    cfg = load_config(path, overrides=overrides)
    console.print(f"[bold]proav demo[/]: {path} -> {cfg.output_dir}/{cfg.name}")
    hw = Hardware(hardware["accelerator"], str(hardware["devices"]), hardware["strategy"],
                  hardware["precision"], hardware["num_nodes"])
    hw = replace(hw, compile_scope=generator_compile(compile_generator, hw, say=console.print))
    result = run_demo(cfg, hw, clips=clips, samples_per_class=samples_per_class, cfg_scale=cfg_scale,
                      guide_scale=guide_scale, fresh=fresh, say=console.print)

    times = Table(title="stages")
    times.add_column("stage")
    times.add_column("seconds", justify="right")
    for name, seconds in result.seconds.items():
        times.add_row(name, f"{seconds:.1f}")
    times.add_row("[bold]total[/]", f"[bold]{sum(result.seconds.values()):.1f}[/]")
    console.print(times)
    console.print(f"on {describe(result.machine)}", highlight=False)
    recon = result.reconstruction
    console.print(f"autoencoder on held-out clips: video PSNR {recon['video_psnr']:.2f} dB, "
                  f"audio representation (mel) PSNR {recon['audio_psnr']:.2f} dB", highlight=False)
    guided = result.guidance
    kind = "autoguidance" if guided["kind"] == "autoguidance" else "classifier-free guidance"
    console.print(f"samples guided by {kind}, scale {guided['scale']:g}"
                  + (f", away from the generator at step {guided['guide_step']} ({guided['guide']}) under "
                     + ("its null condition" if guided["guide_condition"] == "null" else "the sample's prompt")
                     if guided["kind"] == "autoguidance" else ""), highlight=False)
    console.print(scores_table(result.scores))
    judged = metric(cfg, "shape_sync").settings  # the config's [[metrics]] section, else the defaults
    console.print("sync F1: bounces seen in the video vs onsets heard in the audio, one-to-one within +-1 frame "
                  "(shape_sync, from syncshapes' known truth). whole shape: frames holding one object that fits "
                  f"a shape template (IoU >= {judged.min_shape_iou:g}; a blob or a broken shape is one object but no "
                  "whole shape). steady shape: a whole shape of the clip's own size (area within "
                  f"+-{judged.size_tolerance:.0%} of its median) and colour (hue within {judged.colour_tolerance:g} "
                  "turns of its class's); a shape that swells or shifts colour is whole but not steady. "
                  "AV-Align rewards matched flow peaks and onsets "
                  "within +-3 frames, so clips with peaks on most frames (flicker, noise) score high by chance: "
                  "read it beside the peak counts. wall satur.: saturation of a clip's mean background colour "
                  "(syncshapes walls 0.1-0.35; grey walls score near 0), which the object figures do not see.",
                  highlight=False)
    above = result.sync_above_chance
    console.print(f"sync above chance, (F1 - shuffled) / (1 - shuffled): samples {_fmt(above.get('samples'), 2)} "
                  f"(against shuffled samples), real clips {_fmt(above.get('real clips'), 2)} (against shuffled "
                  "real pairs); it discounts what sync F1 gains when samples gather on the commonest event pattern",
                  highlight=False)
    if line := timing_mix(result.scores):
        console.print(line, highlight=False)
    checks = Table(title="targets")
    for column in ("target", "value", "threshold", "met"):
        checks.add_column(column)
    for name, t in result.targets.items():
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        threshold = "-" if t["threshold"] is None else f"{t['threshold']:.3f}"
        checks.add_row(name, value, threshold, "[green]yes[/]" if t["met"] else "[red]no[/]")
    console.print(checks)
    for task, seen in result.tasks.items():
        given = "soundtrack animated" if task == "a2v" else "video scored"
        prompt = f" (prompt '{seen['prompt']}', CFG {seen['cfg_scale']:g})" if seen.get("prompt") else ""
        console.print(f"{task} ({seen['mode']}), a held-out {seen['source_class']} clip's {given}{prompt}: bounces "
                      f"{seen['bounces']}, onsets {seen['onsets']}, sync F1 {seen['sync_f1']:.2f}, class seen in "
                      f"video {_fmt(seen['video_class'], 0)} / heard {_fmt(seen['audio_class'], 0)}: {seen['file']}",
                      highlight=False)
    run = result.run
    console.print(
        f"samples (mp4 with audio, wav, frame strip, mel image): {run / 'samples'}; a2v and v2a examples: "
        f"{run / 'tasks'}\n"
        f"contact sheet (real above generated, per class; then a2v and v2a): {result.contact_sheet}\n"
        f"checkpoints: {run / 'autoencoder' / 'last.ckpt'}, {run / 'generator' / 'last.ckpt'}\n"
        f"loss curves: {run / 'autoencoder' / 'loss.png'}, {run / 'generator' / 'loss.png'}\n"
        f"summary: {run / 'demo_summary.json'}"
    )


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def scores_table(scores) -> Group:
    """Two tables, one row per clip set: shape_sync's figures (bounces and onsets per clip), then
    AV-Align with its peak counts (narrow enough for an 80-column terminal)."""
    counts = ", ".join(f"{by['shape_sync'].num_fake} {name}" for name, by in scores.items()
                       if name in ("samples", "real clips"))
    sync_table = Table(title=f"shape_sync: syncshapes' ground truth ({counts}; samples read back from their mp4 files)",
                       box=box.SIMPLE_HEAD, pad_edge=False)
    sync_table.add_column("clips", ratio=1)
    for column in ("sync\nF1", "1 object\n/ frame", "whole\nshape", "steady\nshape", "class\nvideo", "class\naudio",
                   "bounces,\nonsets", "wall\nsatur."):
        sync_table.add_column(column, justify="right", no_wrap=True)
    align_table = Table(title="AV-Align")
    align_table.add_column("clips", ratio=1)
    for column in ("AV-Align", "flow peaks / clip", "librosa onsets / clip"):
        align_table.add_column(column, justify="right", no_wrap=True)
    for name, by in scores.items():
        sync, align = by["shape_sync"], by["av_align"]
        d, a = sync.details, align.details
        sync_table.add_row(name, _fmt(sync.value), _fmt(d.get("single_object_share")),
                           _fmt(d.get("whole_shape_share")), _fmt(d.get("steady_shape_share")),
                           _fmt(d.get("video_accuracy")),
                           _fmt(d.get("audio_accuracy")),
                           f"{_fmt(d.get('bounces_per_clip'), 1)}, {_fmt(d.get('onsets_per_clip'), 1)}",
                           _fmt(d.get("background_saturation"), 2))
        align_table.add_row(name, _fmt(align.value), _fmt(a.get("flow_peaks_per_clip"), 1),
                            _fmt(a.get("onsets_per_clip"), 1))
    return Group(sync_table, align_table)
