"""`proav data synth|prepare`: synthetic sounding videos as files, and the prepared clip cache."""

from __future__ import annotations

from pathlib import Path

import click

from proav_core.cli.common import console, err_console, load_cli_config
from proav_core.errors import UsageError


@click.group("data")
def command() -> None:
    """Sounding-video data: write syncshapes clips as mp4 files, prepare a dataset into a cache."""


@command.command("synth")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder to write the clips to")
@click.option("--num", default=16, show_default=True, type=click.IntRange(min=1), help="files to write")
@click.option("--config", "config", default=None, type=click.Path(dir_okay=False),
              help="config whose [clip] and syncshapes [dataset] to use (default: the embedded demo config)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config value, e.g. --set clip.frames=16 --set dataset.num_classes=3")
@click.option("--clips-per-file", default=1, show_default=True, type=click.IntRange(min=1),
              help="clips' worth of frames in each file (one continuous scene)")
@click.option("--split", default="train", show_default=True, type=click.Choice(["train", "test"]),
              help="which syncshapes split the scenes come from")
@click.option("--overwrite", is_flag=True, help="replace the files an earlier synth wrote into --out")
def synth_cmd(out, num, config, overrides, clips_per_file, split, overwrite) -> None:
    """Write syncshapes clips as mp4 files in class subfolders, plus events.json (event frames)."""
    from proav_core.cli.demo_cmd import default_config_path
    from proav_core.data.media_files import list_media_files
    from proav_core.data.synth import remove_synthesized, synthesize, syncshapes_params
    from proav_core.output_folders import check_output_folder

    cfg = load_cli_config(config or default_config_path(), overrides)
    params = syncshapes_params(cfg)
    check_output_folder(out, "--out", "pass another --out")
    removed = remove_synthesized(out, dry_run=not overwrite)
    if not removed and Path(out).is_dir() and list_media_files(out):
        raise UsageError(f"{out} holds videos that no earlier synth wrote (no events.json); pass another --out")
    if removed and not overwrite:
        raise UsageError(f"{out} already holds {len(removed) - 1} synthesised file(s) and their events.json; pass "
                         "--overwrite to replace them, or another --out (adding to them would leave events.json "
                         "describing only the new files)")
    path = synthesize(out, num, cfg.clip, params, clips_per_file=clips_per_file, split=split)
    console.print(f"wrote {num} file(s) under {out}; event frames in {path}")


@command.command("prepare")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config value, e.g. --set dataset.root=data/landscape")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="cache folder (default: <output_dir>/<name>/prepared)")
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "test", "all"]),
              help="splits to prepare (default: train and test)")
@click.option("--strict", is_flag=True, help="stop at the first bad file instead of skipping it")
@click.option("--overwrite", is_flag=True, help="replace a cache made with another config")
@click.option("--sources-per-shard", default=8, show_default=True, type=click.IntRange(min=1),
              help="source files (or blocks of 8 items) per shard")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="torch threads for the per-clip tensor work (FFmpeg decodes with its own threads); "
                   "per-clip ops are small, so more threads rarely help")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def prepare_cmd(config, overrides, out, splits, strict, overwrite, sources_per_shard, threads, no_progress) -> None:
    """Preprocess the config's dataset into sharded tensors; reruns skip what is done."""
    import torch
    from rich.markup import escape
    from rich.table import Table

    from proav_core.data.bad_input import render_report
    from proav_core.data.prepare import prepare

    cfg = load_cli_config(config, overrides)
    out = Path(out) if out else Path(cfg.output_dir) / cfg.name / "prepared"
    torch.set_num_threads(threads)
    results = prepare(cfg, out, tuple(splits) or ("train", "test"), strict=strict, overwrite=overwrite,
                      sources_per_shard=sources_per_shard, show_progress=not no_progress, console=err_console)
    table = Table(title=f"prepared {out}", title_justify="left")
    for col in ("split", "clips", "decoded now", "shards written", "shards kept", "clips/s"):
        table.add_column(col, justify="right" if col != "split" else "left")
    skipped = []
    for split, r in results.items():
        rate = f"{r.processed / r.seconds:.1f}" if r.processed and r.seconds > 0 else "-"
        table.add_row(split, str(r.clips), str(r.processed), str(r.shards_written), str(r.shards_kept), rate)
        skipped += [s for s in r.skipped if s not in skipped]  # a bad file shows in every split
    console.print(table)
    render_report(skipped, console)
    console.print(escape(f'use it with [dataset] name = "prepared", root = "{out}"'), highlight=False)
