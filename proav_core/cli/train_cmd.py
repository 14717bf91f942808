"""`proav train autoencoder|generator|prior CONFIG`: the Fabric training loops."""

from __future__ import annotations

import click

from proav_core.cli.common import compile_options, config_argument, console, hardware_options, load_cli_config


def _hardware(accelerator, devices, strategy, precision, num_nodes, compile_scope=None):
    from proav_core.training.hardware import Hardware

    return Hardware(accelerator, str(devices), strategy, precision, num_nodes, compile_scope)


def _say_once(text: str) -> None:
    """Print from the first process only (every process of a --devices N run gets here)."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) == 0:
        console.print(text)


def _latents_option(func):
    return click.option("--latents", "latents_dir", type=click.Path(file_okay=False), default=None,
                        help="read the latent cache from this folder instead of <run>/latents "
                             "(e.g. another run's, as `proav encode` wrote it)")(func)


def _run_options(func):
    func = click.option("--overwrite", is_flag=True, help="start over where a checkpoint already exists")(func)
    return click.option("--resume", is_flag=True, help="continue from the run's last.ckpt")(func)


@click.group("train")
def command() -> None:
    """Train the autoencoder (on clips), the generator or its prior (on cached latents)."""


@command.command("generator")
@config_argument
@_run_options
@_latents_option
@hardware_options
@compile_options
def generator_cmd(config, overrides, resume, overwrite, latents_dir, **hardware) -> None:
    """Train the generator on the latent cache that `proav encode` wrote."""
    from proav_core.training.generator_loop import train_generator

    cfg = load_cli_config(config, overrides)
    out = train_generator(cfg, _hardware(**hardware), resume=resume, overwrite=overwrite, latents_dir=latents_dir)
    _say_once(f"generator checkpoint: {out / 'last.ckpt'}")


@command.command("autoencoder")
@config_argument
@_run_options
@hardware_options
@compile_options
def autoencoder_cmd(config, overrides, resume, overwrite, **hardware) -> None:
    """Train the autoencoder (two stages, generator and discriminator optimisers)."""
    from proav_core.training.autoencoder_loop import train_autoencoder

    cfg = load_cli_config(config, overrides)
    out = train_autoencoder(cfg, _hardware(**hardware), resume=resume, overwrite=overwrite)
    _say_once(f"autoencoder checkpoint: {out / 'last.ckpt'}")


@command.command("prior")
@config_argument
@_run_options
@_latents_option
@hardware_options
def prior_cmd(config, overrides, resume, overwrite, latents_dir, **hardware) -> None:
    """Train [model.prior] (e.g. JavisDiT's hist_sypo) on the latent cache that `proav encode` wrote."""
    from proav_core.training.prior_loop import train_prior

    cfg = load_cli_config(config, overrides)
    out = train_prior(cfg, _hardware(**hardware), resume=resume, overwrite=overwrite, latents_dir=latents_dir)
    _say_once(f"prior checkpoint: {out / 'last.ckpt'}")
