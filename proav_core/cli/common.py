"""Shared pieces of the `proav` commands: consoles, the CONFIG/--set options, hardware flags."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def config_argument(func: Callable[..., Any]) -> Callable[..., Any]:
    """CONFIG path plus repeatable --set dotted.key=value overrides."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set model.generator.depth=4 (TOML syntax for values; "
             "KEY=default puts a key back to its default, unsetting an optional one)",
    )(func)
    return click.argument("config", type=click.Path(dir_okay=False))(func)


def load_cli_config(config: str, overrides: tuple[str, ...]):
    from proav_core.config import load_config

    return load_config(config, overrides=overrides)


def hardware_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--accelerator/--devices/--strategy/--precision/--num-nodes, passed to Lightning Fabric."""
    options = [
        click.option("--num-nodes", default=1, show_default=True, type=int, help="machines"),
        click.option(
            "--precision",
            default=None,
            help="32-true, bf16-mixed, 16-mixed, ... (default: bf16-mixed where the device supports it, else 32-true)",
        ),
        click.option("--strategy", default="auto", show_default=True, help="auto, ddp, fsdp, ..."),
        click.option("--devices", default="1", show_default=True, help="device count or ids"),
        click.option("--accelerator", default="auto", show_default=True, help="cpu, cuda, mps, auto"),
    ]
    for option in options:
        func = option(func)
    return func


def compile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--compile and --compile-scope: torch.compile of the model's blocks or whole network
    (proav_core.compiling); the command receives `compile_scope`, None without --compile."""
    func = click.option("--compile-scope", type=click.Choice(["blocks", "network", "cudagraphs"]), default="blocks",
                        show_default=True,
                        help="with --compile: each transformer block apart, the generator's whole forward, or "
                             "that replayed as CUDA graphs (small batches on a GPU)")(func)
    func = click.option("--compile", "compile_model", is_flag=True,
                        help="torch.compile the model (needs a C++ compiler on CPU, Triton on CUDA); the first "
                             "steps are slower while it compiles")(func)

    @functools.wraps(func)
    def wrapper(*args: Any, compile_model: bool, compile_scope: str, **kwargs: Any) -> Any:
        if compile_scope != "blocks" and not compile_model:  # a scope alone would be ignored without a word
            from proav_core.errors import UsageError

            raise UsageError(f"--compile-scope {compile_scope} goes with --compile: add --compile, or leave "
                             "--compile-scope out to run eagerly")
        return func(*args, compile_scope=compile_scope if compile_model else None, **kwargs)

    return wrapper
