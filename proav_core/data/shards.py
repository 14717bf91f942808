"""Shards of prepared clips: many ClipSamples stacked into one torch file, written atomically.

A shard holds N clips as
    video    (N, 3, T, H, W) uint8   ((x + 1) * 127.5, rounded: 8-bit frames, like a video file)
    audio    (N, T, H, W)    float32 the audio representation
    waveform (N, S)          float32
    label (N,) int64, start (N,) float64, end (N,) float64, path: list of N str,
    events   (N, T) bool     only when every clip has events.
It is serialised to memory and written to a temporary file that is fsynced and renamed, so a
shard that exists is complete, and the same clips always give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

from proav_core.errors import DataError, load_error_reason
from proav_core.interfaces.data import ClipSample


def pack(items: list[ClipSample]) -> dict[str, Any]:
    """Stack ClipSamples into shard tensors (see the module doc)."""
    video = torch.stack([((it["video"].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8) for it in items])
    out: dict[str, Any] = {
        "video": video,  # (N, 3, T, H, W) uint8
        "audio": torch.stack([it["audio"].float() for it in items]),  # (N, T, H, W)
        "waveform": torch.stack([it["waveform"].float() for it in items]),  # (N, S)
        "label": torch.tensor([int(it.get("label", -1)) for it in items], dtype=torch.int64),
        "start": torch.tensor([float(it.get("start", 0.0)) for it in items], dtype=torch.float64),
        "end": torch.tensor([float(it.get("end", 0.0)) for it in items], dtype=torch.float64),
        "path": [str(it.get("path", "")) for it in items],
    }
    if all("events" in it for it in items):
        out["events"] = torch.stack([it["events"].bool() for it in items])  # (N, T)
    return out


def unpack(shard: dict[str, Any], row: int) -> ClipSample:
    """Row `row` of a shard back as a ClipSample (video as float in [-1, 1])."""
    item = ClipSample(
        video=shard["video"][row].float() / 127.5 - 1,  # (3, T, H, W)
        audio=shard["audio"][row].clone(),
        waveform=shard["waveform"][row].clone(),
        label=int(shard["label"][row]),
        path=shard["path"][row],
        start=float(shard["start"][row]),
        end=float(shard["end"][row]),
    )
    if "events" in shard:
        item["events"] = shard["events"][row].clone()
    return item


def write_shard(path: Path, items: list[ClipSample]) -> tuple[int, str]:
    """Write a shard atomically; returns (bytes, sha256 of the bytes)."""
    buffer = io.BytesIO()
    torch.save(pack(items), buffer)
    data = buffer.getvalue()
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return len(data), hashlib.sha256(data).hexdigest()


def read_shard(path: Path) -> dict[str, Any]:
    """Load a shard lazily (memory-mapped). Raises DataError naming the file when it is unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        raise DataError(
            f"{path}: unreadable shard ({load_error_reason(err)}); rerun `proav data prepare`", source=str(path)
        ) from None
