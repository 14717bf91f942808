"""`proav bench CONFIG`: seconds per training step (autoencoder stages and generator apart),
seconds per sample (30 steps, CFG, decode included), peak memory, parameters, FLOPs per step
and achieved FLOP/s on the current device with its share of the device's peak (where known);
a table and a JSON (proav_core.benchmarking). --compile measures the compiled models;
--breakdown adds where each item's time goes (proav_core.benchmarking.breakdown)."""

from __future__ import annotations

from pathlib import Path

import click

from proav_core.cli.common import compile_options, config_argument, console, load_cli_config


@click.command("bench")
@config_argument
@click.option("--accelerator", default="auto", show_default=True, help="cpu, cuda, gpu, mps, auto (one device)")
@click.option("--precision", default=None,
              help="32-true, bf16-mixed, 16-mixed, ... (default: bf16-mixed where the device supports it, "
              "else 32-true)")
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="torch CPU threads (default: torch's; on a small shared CPU 1 is often faster)")
@click.option("--batch-size", default=2, show_default=True, type=click.IntRange(min=1),
              help="batch of the training steps")
@click.option("--sample-batch", default=1, show_default=True, type=click.IntRange(min=1),
              help="samples per sampling call")
@click.option("--steps", default=30, show_default=True, type=click.IntRange(min=1), help="sampler steps")
@click.option("--cfg", "cfg_scale", default=4.0, show_default=True, type=float, help="classifier-free guidance scale")
@click.option("--warmup", default=1, show_default=True, type=click.IntRange(min=0), help="untimed calls per item")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=1), help="timed calls per item")
@click.option("--no-flops", is_flag=True, help="skip the FLOP-counting call of each item")
@click.option("--skip", multiple=True, type=click.Choice(["autoencoder", "generator", "sample"]),
              help="leave a part out (repeatable)")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="JSON path (default: <output_dir>/<name>/bench-<device>.json)")
@click.option("--peak-tflops", default=None, type=click.FloatRange(min=0, min_open=True),
              help="the device's peak TFLOP/s for the precision used (default: a table of known GPUs; "
              "unknown on CPU)")
@click.option("--breakdown", is_flag=True,
              help="profile one more call per item and show where its time goes: attention, matmul, convolution, "
              "normalisation, compiled kernels, optimiser, other")
@compile_options
def command(config, overrides, accelerator, precision, threads, batch_size, sample_batch, steps, cfg_scale, warmup,
            repeats, no_flops, skip, out_path, peak_tflops, breakdown, compile_scope) -> None:
    """Measure training and sampling cost with fresh weights on synthetic batches."""
    from proav_core.benchmarking import BenchSettings, print_report, run_benchmarks, write_report
    from proav_core.progress import progress_bar

    cfg = load_cli_config(config, overrides)
    settings = BenchSettings(accelerator=accelerator, precision=precision, threads=threads, batch_size=batch_size,
                             sample_batch=sample_batch, steps=steps, cfg_scale=cfg_scale, warmup=warmup,
                             repeats=repeats, flops=not no_flops, skip=tuple(skip), compile_scope=compile_scope,
                             peak_tflops=peak_tflops, breakdown=breakdown)
    report = run_benchmarks(cfg, settings, progress=progress_bar)
    report["overrides"] = list(overrides)  # e.g. checkpoint_blocks: the JSON says what was measured
    print_report(report, console)
    path = Path(out_path) if out_path else Path(cfg.output_dir) / cfg.name / f"bench-{report['device']['type']}.json"
    console.print(f"JSON: {write_report(report, path)}", highlight=False)
