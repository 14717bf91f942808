"""proav_core.progress: the bar every long loop shows keeps its figures whole on narrow terminals."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from proav_core.progress import progress_bar


def last_line(width: int) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None)
    with progress_bar(4800, "train generator", console=console) as advance:
        advance(4800, loss=0.123456, lr=0.00589)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", buf.getvalue()).replace("\r", "\n")
    return [line for line in text.splitlines() if line.strip()][-1]


@pytest.mark.parametrize("width", [80, 100])
def test_an_80_column_terminal_keeps_the_count_status_and_eta_whole(width):
    line = last_line(width)
    assert len(line) <= width and "…" not in line
    assert line.startswith("train generator ━") and "4800/4800 loss=0.1235  lr=0.00589" in line
    assert re.search(r"\d:\d\d:\d\d$", line.rstrip())  # the time left, not cut
    assert "it/s" not in line  # the rate and the elapsed time make room


def test_a_wide_terminal_also_shows_the_rate_and_elapsed_time():
    line = last_line(140)
    assert re.search(r"4800/4800 loss=0\.1235  lr=0\.00589 ([\d.]+|--) it/s \d:\d\d:\d\d eta \d:\d\d:\d\d$", line.rstrip())
    assert line.count("━") == 40  # the bar stops at 40 columns
