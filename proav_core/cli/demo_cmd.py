"""`proav demo`: the embedded default job (configs/demo.toml) end to end on syncshapes."""

from __future__ import annotations

from importlib import resources

import click
from rich.table import Table

from proav_core.cli.common import console, hardware_options


def default_config_path() -> str:
    return str(resources.files("proav_core") / "configs" / "demo.toml")


@click.command("demo")
@click.option("--config", "config", default=None, help="config to run (default: the packaged configs/demo.toml)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config value")
@click.option("--clips", default=128, show_default=True, type=click.IntRange(min=8), help="clips to synthesise")
@click.option("--samples-per-class", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--cfg", "cfg_scale", default=2.0, show_default=True, type=float, help="guidance scale")
@click.option("--fresh", is_flag=True, help="delete the run folder first instead of resuming it")
@hardware_options
def command(config, overrides, clips, samples_per_class, cfg_scale, fresh, **hardware) -> None:
    """Synthesise syncshapes, train the autoencoder, encode, train the generator, sample, and
    score AV-Align for the samples, real clips and shuffled real pairs."""
    from proav_core.config import load_config
    from proav_core.demo import run_demo
    from proav_core.training.hardware import Hardware

    path = config or default_config_path()
    cfg = load_config(path, overrides=overrides)
    console.print(f"[bold]proav demo[/]: {path} -> {cfg.output_dir}/{cfg.name}")
    hw = Hardware(hardware["accelerator"], str(hardware["devices"]), hardware["strategy"],
                  hardware["precision"], hardware["num_nodes"])
    result = run_demo(cfg, hw, clips=clips, samples_per_class=samples_per_class, cfg_scale=cfg_scale,
                      fresh=fresh, say=console.print)

    times = Table(title="stages")
    times.add_column("stage")
    times.add_column("seconds", justify="right")
    for name, seconds in result.seconds.items():
        times.add_row(name, f"{seconds:.1f}")
    times.add_row("[bold]total[/]", f"[bold]{sum(result.seconds.values()):.1f}[/]")
    console.print(times)
    scores = Table(title="AV-Align (audio onsets vs optical-flow peaks, +-3 frames; 1 = every peak matched)")
    for column in ("clips", "AV-Align", "clips scored", "flow peaks / clip", "onsets / clip", "note"):
        scores.add_column(column)
    for name, r in result.av_align.items():
        value = "unavailable" if r.value is None else f"{r.value:.3f}"
        density = [f"{r.details[k]:.1f}" if k in r.details else "-" for k in ("flow_peaks_per_clip", "onsets_per_clip")]
        scores.add_row(name, value, str(r.num_fake), *density, r.reason or "")
    console.print(scores)
    console.print("AV-Align rewards matched peaks, not quality: clips with peaks on most frames (flicker, "
                  "noise) match by chance within +-3 frames, so read it beside the peak counts of real clips.",
                  highlight=False)
    run = result.run
    console.print(
        f"samples (mp4 with audio, wav, frame strip, mel image): {run / 'samples'}\n"
        f"checkpoints: {run / 'autoencoder' / 'last.ckpt'}, {run / 'generator' / 'last.ckpt'}\n"
        f"loss curves: {run / 'autoencoder' / 'loss.png'}, {run / 'generator' / 'loss.png'}\n"
        f"summary: {run / 'demo_summary.json'}"
    )
