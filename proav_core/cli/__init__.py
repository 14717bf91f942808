"""The `proav` command line. Exit codes: 0 ok, 2 usage or config error, 1 any other failure.

A ProavWarning is printed as one "warning:" line on stderr, once per message and run.

Each module in COMMAND_MODULES defines `command`, a click command or group added to `proav`.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.markup import escape

from proav_core._version import __version__
from proav_core.cli.common import err_console
from proav_core.errors import ProavError, ProavWarning

COMMAND_MODULES = [
    "proav_core.cli.registry_cmd",
    "proav_core.cli.config_cmd",
    "proav_core.cli.demo_cmd",
    "proav_core.cli.train_cmd",
    "proav_core.cli.encode_cmd",
    "proav_core.cli.sample_cmd",
    "proav_core.cli.eval_cmd",
    "proav_core.cli.model_cmd",
    "proav_core.cli.data_cmd",
    "proav_core.cli.bench_cmd",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="proav")
def cli() -> None:
    """proav: synchronized audio-video generation (ProAV-DiT and peers), every part a plugin."""


for _module in COMMAND_MODULES:
    cli.add_command(importlib.import_module(_module).command)


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
