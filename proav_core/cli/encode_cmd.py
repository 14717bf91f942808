"""`proav encode CONFIG`: the latent cache for generator training."""

from __future__ import annotations

import click

from proav_core.cli.common import config_argument, console, load_cli_config


@click.command("encode")
@config_argument
@click.option("--ckpt", default=None, help="autoencoder checkpoint (default: <run>/autoencoder/last.ckpt)")
@click.option("--out", "out_dir", default=None, help="latent cache folder (default: <run>/latents)")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--accelerator", default="auto", show_default=True, help="cpu, cuda, auto")
@click.option("--precision", default=None, help="32-true, bf16-mixed, ... (default: bf16-mixed where supported)")
def command(config, overrides, ckpt, out_dir, batch_size, accelerator, precision) -> None:
    """Encode the training split with a trained autoencoder (resumes an interrupted run)."""
    from proav_core.training.encode import encode_dataset
    from proav_core.training.hardware import Hardware

    cfg = load_cli_config(config, overrides)
    out = encode_dataset(cfg, Hardware(accelerator=accelerator, precision=precision),
                         checkpoint=ckpt, out_dir=out_dir, batch_size=batch_size)
    console.print(f"latent cache: {out}")
