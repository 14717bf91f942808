"""`proav eval CONFIG --real DIR --fake DIR --metrics a,b --out results.json`.

Reads the media files of both folders (sorted by name; the first clip of each, shaped by
the config's [clip]), feeds them to the selected metric components and prints a table; the
JSON holds each figure with its extractor fingerprint, sample counts, protocol and, for an
unavailable metric, the reason (e.g. which weights file to provide). Exit code 0 even when
some metrics are unavailable; 2 on usage errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from proav_core.cli.common import config_argument, console, load_cli_config
from proav_core.errors import DataError, UsageError

if TYPE_CHECKING:
    import torch


def _device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise UsageError(f"--device {name!r}: {err}; use cpu, cuda, cuda:1, ... or auto") from None


def _skipped(path: Path, err: DataError) -> dict[str, str]:
    from proav_core.data.bad_input import BadInput, Skipped

    if isinstance(err, BadInput):
        return Skipped.of(err).to_dict()
    return {"source": str(path), "reason": "unreadable", "detail": str(err)}


def folder_batches(
    files: list[Path], clip: Any, batch_size: int, device: torch.device,
    audio_repr: Any, skipped: list[dict[str, str]], advance: Any,
) -> Iterator[dict[str, Any]]:
    """Batches {video (B,3,T,H,W), waveform (B,S), audio (B,T,H,W) with audio_repr, path} of
    the first clip of each file; unreadable or too short files are listed in `skipped`."""
    import torch

    from proav_core.data.decode import read_clip

    pending: list[tuple[torch.Tensor, torch.Tensor, str]] = []
    for index, path in enumerate(files):
        try:
            video, waveform = read_clip(path, clip)  # (3, T, H, W), (S,)
            pending.append((video, waveform, str(path)))
        except DataError as err:
            skipped.append(_skipped(path, err))
        advance()
        if pending and (len(pending) == batch_size or index == len(files) - 1):
            batch: dict[str, Any] = {
                "video": torch.stack([v for v, _, _ in pending]).to(device),  # (B, 3, T, H, W)
                "waveform": torch.stack([w for _, w, _ in pending]).to(device),  # (B, S)
                "path": [p for _, _, p in pending],
            }
            if audio_repr is not None:
                batch["audio"] = audio_repr.encode(batch["waveform"].cpu()).to(device)  # (B, T, H, W)
            pending = []
            yield batch


def _media_files(folder: str, limit: int | None, skipped: list[dict[str, str]]) -> list[Path]:
    """The folder's videos (at most `limit`); its audio-only files go to `skipped`, named, as
    `data prepare` reports them, rather than being passed over without a word (not the wav a
    video of the same name has beside it: a sample's own soundtrack)."""
    from proav_core.data.media_files import is_audio_file, list_files

    files, others = list_files(folder)  # each sorted by relative path
    videos = {p.with_suffix("") for p in files}  # `proav sample` writes sample_<i>.wav beside sample_<i>.mp4
    skipped += [{"source": str(p), "reason": "no video stream", "detail": "an audio file; eval reads sounding videos"}
                for p in others if is_audio_file(p) and p.with_suffix("") not in videos]
    if not files:
        raise UsageError(f"{folder} holds no media files (mp4, mkv, webm, avi, mov, ...)")
    return spread(files, limit) if limit else files


def spread(files: list[Path], limit: int) -> list[Path]:
    """At most `limit` of the sorted `files`, evenly spaced over them (so over the class
    subfolders too, where the first `limit` would all be of the first class)."""
    if len(files) <= limit:
        return files
    return [files[(i * len(files)) // limit] for i in range(limit)]


def _fmt(value: float | None) -> str:
    return "unavailable" if value is None else f"{value:.4f}"


def print_table(report: Any) -> None:
    table = Table(title="proav eval")
    for column in ("metric", "value", "real", "generated", "extractor", "protocol / reason"):
        table.add_column(column, overflow="fold")
    for r in report.results:
        extractor = "-" if not r.fingerprint else " + ".join(f.split("/prep:")[0][:40] for f in r.fingerprint.split(" + "))
        note = f"[red]{escape(r.reason)}[/]" if r.reason else escape(r.protocol)
        table.add_row(r.name, _fmt(r.value), str(r.num_real), str(r.num_fake), escape(extractor), note)
    console.print(table)


@click.command("eval")
@config_argument
@click.option("--real", "real_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="folder of real clips (needed by fvd, kvd, fad, psnr, ...)")
@click.option("--fake", "fake_dir", type=click.Path(exists=True, file_okay=False), required=True,
              help="folder of generated clips")
@click.option("--metrics", "metric_names", default=None, metavar="A,B,...",
              help="metric names, comma-separated (default: the config's [[metrics]] sections)")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="results JSON (default: <output_dir>/<name>/eval.json)")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="use at most N files per folder, evenly spaced over its sorted files (so over its class subfolders)")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:1, ... (auto: cuda when available)")
def command(config, overrides, real_dir, fake_dir, metric_names, out, batch_size, limit, device) -> None:
    """Metrics between a folder of real and a folder of generated sounding videos."""
    from proav_core.build import build_component
    from proav_core.metrics.evaluate import EvalReport, build_metrics, evaluate, select_sections
    from proav_core.output_folders import check_output_folder
    from proav_core.progress import progress_bar

    cfg = load_cli_config(config, overrides)
    names = [n.strip() for n in metric_names.split(",") if n.strip()] if metric_names else None
    sections = select_sections(cfg.metrics, names)
    if not sections:
        raise UsageError("no metrics selected: pass --metrics av_align,fvd,... or add [[metrics]] sections to the config")
    runs = build_metrics(sections, cfg.clip)
    needing_real = [r.label for r in runs if r.needs_real]
    if needing_real and real_dir is None:
        raise UsageError(f"{', '.join(needing_real)} compare against real clips: pass --real DIR")
    audio_repr = None
    if any("audio" in r.inputs for r in runs):
        if cfg.audio_repr is None:
            for run in runs:
                if "audio" in run.inputs:
                    run.metric, run.error = None, "needs the audio representation: add an [audio_repr] section"
        else:
            audio_repr = build_component(cfg.audio_repr, clip=cfg.clip)
    path = Path(out) if out else Path(cfg.output_dir) / cfg.name / "eval.json"
    check_output_folder(path.parent, "--out" if out else "output_dir", "pass another --out")  # before any clip is read
    dev = _device(device)
    skipped: list[dict[str, str]] = []
    fake_files = _media_files(fake_dir, limit, skipped)
    real_files = _media_files(real_dir, limit, skipped) if real_dir else []
    with progress_bar(len(fake_files) + len(real_files), "eval: reading clips") as advance:
        real = folder_batches(real_files, cfg.clip, batch_size, dev, audio_repr, skipped, advance) if real_dir else None
        fake = folder_batches(fake_files, cfg.clip, batch_size, dev, audio_repr, skipped, advance)
        results = evaluate(runs, real, fake)
    sources = {"config": str(config), "real": real_dir, "fake": fake_dir, "device": str(dev),
               "files": {"real": len(real_files), "fake": len(fake_files)},
               "pairing": "psnr pairs real and generated files in sorted-name order"}
    report = EvalReport(results, cfg.clip, sources, skipped)
    print_table(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    if skipped:
        from proav_core.data.bad_input import Skipped, render_report

        render_report([Skipped(**s) for s in skipped], console)
    if report.unavailable:
        console.print(f"[yellow]unavailable:[/] {', '.join(report.unavailable)} (reasons above and in the JSON)")
    console.print(f"results: {path}")
