"""Progress bars for every long loop: description, bar, done/total, live status, it/s, ETA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Column
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


WIDE = 110  # terminal columns from which the bar also shows it/s and the elapsed time


class RateColumn(ProgressColumn):
    """Iterations per second (or seconds per iteration when slower than 1 it/s)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("-- it/s")
        return Text(f"{speed:.2f} it/s" if speed >= 1 else f"{1 / speed:.2f} s/it")


def _format_status(status: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in status.items())


@contextmanager
def progress_bar(
    total: int | None, description: str, console: Console | None = None, disable: bool = False
) -> Iterator[Callable[..., None]]:
    """Yields `advance(n=1, **status)`; status values (loss=0.12) are shown beside the bar."""
    console = console or Console(stderr=True)

    def whole() -> Column:  # never wrapped nor cut: on a narrow terminal the bar and the status shrink
        return Column(no_wrap=True)

    columns = [
        TextColumn("[bold]{task.description}", table_column=whole()),
        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=4, max_width=40)),
        MofNCompleteColumn(table_column=whole()),
        TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
    ]
    if console.width >= WIDE:  # rate and elapsed time where they fit (an 80-column terminal: the ETA alone)
        columns += [RateColumn(table_column=whole()), TimeElapsedColumn(table_column=whole()),
                    TextColumn("eta", table_column=whole())]
    columns.append(TimeRemainingColumn(table_column=whole()))
    with Progress(*columns, console=console, disable=disable) as bar:
        task = bar.add_task(description, total=total, status="")

        def advance(n: int = 1, **status: Any) -> None:
            if status:
                bar.update(task, advance=n, status=_format_status(status))
            else:
                bar.update(task, advance=n)

        yield advance
