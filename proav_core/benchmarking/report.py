"""Presenting a benchmark report: rich tables for the terminal, JSON on disk."""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from proav_core.benchmarking.breakdown import SHORT_NAMES
from proav_core.errors import ProavError


def si(value: float | None, unit: str = "") -> str:
    """1.23e12 -> '1.23 T' (+ unit); None -> '-'."""
    if value is None:
        return "-"
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def memory(nbytes: int | None) -> str:
    if nbytes is None:
        return "-"
    for factor, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if nbytes >= factor:
            return f"{nbytes / factor:.3g} {unit}"
    return f"{nbytes} B"


def results_table(report: dict[str, Any]) -> Table:
    """One row per measured item: seconds per call (median, min), FLOPs counted per call,
    analytic FLOPs of its generator part, achieved FLOP/s (analytic / median, counted / median
    without an analytic figure), its share of the device's peak where known, peak memory.
    Batch sizes are in the title."""
    s, dev = report["settings"], report["device"]
    title = (f"{report['config']}: {dev['name']} ({dev['type']}), {report['precision']}, {report['threads']} "
             f"threads; batch {s['batch_size']} per training step, {s['sample_batch']} per sampling call; "
             f"{s['warmup']} warm-up + {s['repeats']} timed calls")
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("item", min_width=12)
    for column in ("median s (min)", "FLOPs", "analytic", "FLOP/s", "% peak", "peak mem"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in report["rows"]:
        seconds = f"{row['seconds']['median']:.3g} ({row['seconds']['min']:.3g})"
        share = row.get("peak_share")
        table.add_row(row["label"], seconds, si(row["flops"]), si(row["analytic_flops"]),
                      si(row.get("achieved_flops_per_second")), "-" if share is None else f"{share:.2%}",
                      memory(row["peak_memory_bytes"]))
    return table


def parameters_table(report: dict[str, Any]) -> Table:
    table = Table(title="parameters", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("component")
    table.add_column("parameters", justify="right")
    table.add_column("trainable", justify="right")
    trainable = report.get("trainable_parameters", {})  # generator and conditioner (a generator may freeze parts)
    for name, count in report["parameters"].items():
        table.add_row(name, f"{count:,}", f"{trainable[name]:,}" if name in trainable else "")
    return table


def breakdown_table(report: dict[str, Any]) -> Table:
    """--breakdown: per measured item, the share of its profiled time in each operator category
    (proav_core.benchmarking.breakdown: attn = attention, norm = normalisation, optim = optimiser
    and EMA), the aten operators it ran (ops) and its profiled seconds."""
    rows = [row for row in report["rows"] if row.get("breakdown")]
    categories = list(rows[0]["breakdown"]["shares"])
    time_of = "kernel time" if report["device"]["type"] == "cuda" else "CPU time"
    table = Table(title=f"where the time goes: share of each item's {time_of} by operator (one profiled call)",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("item", min_width=12)
    for column in (*(SHORT_NAMES.get(c, c) for c in categories), "ops", "prof. s"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        b = row["breakdown"]
        table.add_row(row["label"], *(f"{b['shares'][c]:.0%}" for c in categories), f"{b['operators']:,}",
                      f"{b['profiled_seconds']:.3g}")
    return table


def print_report(report: dict[str, Any], console: Console) -> None:
    """Tables, then notes: what each row ran, the memory scope, skipped items, checks."""
    console.print(results_table(report))
    if any(row.get("breakdown") for row in report["rows"]):
        console.print(breakdown_table(report))
    if report["parameters"]:
        console.print(parameters_table(report))
    for row in report["rows"]:
        console.print(f"- {row['label'].strip()}: {row['note']}", highlight=False, markup=False)
    scopes = sorted({row["memory_scope"] for row in report["rows"]})
    for scope in scopes:
        console.print(f"peak memory: {scope}", highlight=False)
    if any(row["analytic_flops"] for row in report["rows"]):
        console.print(f"FLOPs (analytic): {report['analytic_note']}", highlight=False)
    peak = report.get("peak")
    if peak:
        figure = "unknown" if peak["tflops"] is None else si(peak["tflops"] * 1e12, "FLOP/s")
        console.print(f"device peak ({peak['number_format']}): {figure} ({peak['source']}); FLOP/s column: "
                      "analytic FLOPs / median seconds (counted FLOPs where no analytic figure)",
                      highlight=False, markup=False)
    tokens = report.get("generator_tokens")
    if tokens:
        share = tokens.get("padded_token_share")
        console.print(f"generator tokens per sample: {tokens['tokens_per_sample']}"
                      + ("" if share is None else f", padded share {share:.1%}")
                      + (f" (padding = {tokens['padding']}: {tokens['computed_tokens_per_sample']} computed)"
                         if "padding" in tokens else ""), highlight=False)
    check = report["checks"].get("generator_forward_flops")
    if check:
        console.print(f"generator forward, batch {check['batch']}: counted {si(check['measured'])} vs analytic "
                      f"{si(check['analytic'])} (ratio {check['ratio']:.4f})", highlight=False)
    for item in report["skipped"]:
        console.print(f"skipped {item['item']}: {item['reason']}", highlight=False, markup=False)
    for note in report["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def spread(values: Sequence[float | None], digits: int = 3) -> dict[str, float] | None:
    """{"mean", "min", "max"} of one figure over seeds (the mean rounded to `digits`); None when
    any seed has no value for it (e.g. sync above chance where the shuffled pairs line up)."""
    if not values or any(v is None for v in values):
        return None
    return {"mean": round(statistics.fmean(values), digits), "min": min(values), "max": max(values)}


def spread_text(figure: dict[str, float] | None) -> str:
    """A spread (see `spread`) for a table cell: "0.912 (0.861-0.957)", the mean alone where every
    seed gave the same value, "-" for None."""
    if figure is None:
        return "-"
    mean = f"{figure['mean']:.3f}"
    return mean if figure["min"] == figure["max"] else f"{mean} ({figure['min']:.3f}-{figure['max']:.3f})"


def run_script(main: Callable[[], int | None], console: Console | None = None) -> NoReturn:
    """A benchmark script's entry point: exit with main()'s status; a ProavError (a bad option, a
    missing run or checkpoint, a config that does not fit) is one red line naming what to do and
    exit status 2, as `proav` prints it, not a traceback."""
    try:
        status = main()
    except ProavError as err:
        (console or Console(stderr=True, soft_wrap=True)).print(f"[red]error:[/] {escape(str(err))}", highlight=False)
        sys.exit(2)
    sys.exit(status or 0)
