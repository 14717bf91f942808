"""Output folders checked before anything is written: a run's stage folder (`output_dir` /
`name`), `proav sample --out`, the folder of `proav eval --out`. A refused command leaves
nothing behind, so the check looks at the nearest existing path at or above the folder."""

from __future__ import annotations

import os
from pathlib import Path

from proav_core.errors import UsageError


def check_output_folder(folder: str | Path, option: str, fix: str) -> None:
    """UsageError naming `option` when `folder` cannot be made or written: the nearest existing
    path at or above it is a file, or a folder this process may not write. Creates nothing.

    `fix` says what to pass instead, e.g. "pass another --out"."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"{option}: {folder} cannot be made, {existing} is a file, not a folder; {fix}")
    if not os.access(existing, os.W_OK):
        raise UsageError(f"{option}: {folder} is not writable ({existing} does not accept new files); {fix}")
