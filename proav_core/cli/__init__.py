"""The `proav` command line. Exit codes: 0 ok, 2 usage or config error, 1 any other failure.

A ProavWarning is printed as one "warning:" line on stderr, once per message and run.

COMMAND_MODULES maps each command name to the module that defines it as `command` (a click
command or group). A module is imported only when its command is run or its help is shown,
so `proav --version` imports no command module and `proav X` imports X's alone. Command
modules import torch, numpy and the media libraries inside their functions, never at module
level, so every `--help` stays light too (tests/core/test_cli_startup.py checks both;
benchmarks/bench_startup.py measures the start-up of each command).
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import click
from rich.markup import escape

from proav_core._version import __version__
from proav_core.cli.common import err_console
from proav_core.errors import ProavError, ProavWarning

COMMAND_MODULES: dict[str, str] = {
    "registry": "proav_core.cli.registry_cmd",
    "config": "proav_core.cli.config_cmd",
    "demo": "proav_core.cli.demo_cmd",
    "train": "proav_core.cli.train_cmd",
    "encode": "proav_core.cli.encode_cmd",
    "sample": "proav_core.cli.sample_cmd",
    "eval": "proav_core.cli.eval_cmd",
    "model": "proav_core.cli.model_cmd",
    "data": "proav_core.cli.data_cmd",
    "bench": "proav_core.cli.bench_cmd",
}


class LazyGroup(click.Group):
    """A click group whose commands are imported by name on first use (`lazy_commands`:
    name -> module defining `command`); commands added with add_command work as usual."""

    def __init__(self, *args, lazy_commands: Mapping[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module = self.lazy_commands[cmd_name]
            command = importlib.import_module(module).command
            if command.name != cmd_name:
                raise RuntimeError(f"{module}.command is named {command.name!r}, not {cmd_name!r}: "
                                   "fix COMMAND_MODULES in proav_core/cli/__init__.py")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy_commands=COMMAND_MODULES,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="proav")
def cli() -> None:
    """proav: synchronized audio-video generation (ProAV-DiT and peers), every part a plugin."""


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Print each distinct ProavWarning as "warning: ..." (no source line); others as Python does."""
    shown: set[str] = set()
    default: Callable[..., None] = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if not issubclass(category, ProavWarning):
            default(message, category, filename, lineno, file, line)
        elif str(message) not in shown:
            shown.add(str(message))
            err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("always", ProavWarning)
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (errors printed, tracebacks with PROAV_DEBUG=1)."""
    try:
        with _warnings_as_lines():
            result = cli.main(args=argv, prog_name="proav", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except ProavError as err:
        if os.environ.get("PROAV_DEBUG"):
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        return err.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
