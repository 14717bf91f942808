"""Bad input files: the error that names one, and the report `prepare` prints at the end.

Every reason a file cannot be used has a short name (REASONS) and a detail; the message
always names the file. By default a bad file is skipped and listed; strict mode raises.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from proav_core.errors import DataError

REASONS = (
    "unreadable path",
    "empty file",
    "unsupported container",
    "not a media file",
    "corrupt",
    "no video stream",
    "no audio stream",
    "zero-length audio",
    "shorter than one clip",
    "refused by the dataset",  # a dataset plugin's own DataError
)


class BadInput(DataError):
    """A media file that cannot give clips. `source` is the file, `reason` one of REASONS."""

    def __init__(self, source: str | Path, reason: str, detail: str = ""):
        if reason not in REASONS:
            raise ValueError(f"unknown bad-input reason {reason!r}; known: {', '.join(REASONS)}")
        self.reason, self.detail = reason, detail
        text = f"{source}: {reason}" + (f" ({detail})" if detail else "")
        super().__init__(text, source=str(source))


@dataclass(frozen=True)
class Skipped:
    """One line of the bad-input report."""

    source: str
    reason: str
    detail: str

    @classmethod
    def of(cls, err: BadInput) -> Skipped:
        return cls(str(err.source), err.reason, err.detail)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def render_report(skipped: list[Skipped], console) -> None:
    """Print the skipped files as a rich table (nothing when the list is empty)."""
    if not skipped:
        return
    from rich.table import Table

    table = Table(title=f"{len(skipped)} file(s) skipped", title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("reason")
    table.add_column("detail", overflow="fold")
    for s in skipped:
        table.add_row(s.source, s.reason, s.detail)
    console.print(table)
