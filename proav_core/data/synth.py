"""`proav data synth`: syncshapes clips written as real mp4 files, so video_folder reads real files.

OUT/<class name>/<split>_<index>.mp4 (H.264 + AAC) for index 0..num-1, and OUT/events.json:
    {"clip": {...the per-file clip spec...}, "classes": [...],
     "files": {"<class>/<split>_00000.mp4": {"label", "class", "event_frames", "event_times"}}}
A file may hold several clips' worth of frames (clips_per_file), one continuous syncshapes
scene, which video_folder then cuts into clips.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from proav_core.build import build
from proav_core.config import ExperimentConfig, to_plain
from proav_core.errors import UsageError
from proav_core.data.writers import write_mp4
from proav_core.interfaces.data import ClipSpec
from proav_core.progress import progress_bar

EVENTS_FILE = "events.json"


def syncshapes_params(cfg: ExperimentConfig) -> dict[str, Any]:
    """The config's syncshapes parameters ({} without a [dataset]); a UsageError for another dataset."""
    if cfg.dataset is None:
        return {}
    if cfg.dataset.name != "syncshapes":
        raise UsageError(f"synthesising writes syncshapes clips, but the config's dataset is "
                         f"'{cfg.dataset.name}'; use a config with [dataset] name = \"syncshapes\" (or none)")
    return to_plain(cfg.dataset.params)


def remove_synthesized(out: str | Path, dry_run: bool = False) -> list[Path]:
    """The files an earlier `synthesize` wrote into `out` (those its events.json lists, and the
    events.json itself), deleted unless `dry_run`; [] when `out` holds no events.json. A folder
    with mp4 files but no events.json is not touched."""
    events = Path(out) / EVENTS_FILE
    if not events.is_file():
        return []
    try:
        listed = list(json.loads(events.read_text()).get("files", {}))
    except (OSError, ValueError, AttributeError):
        listed = []
    found = [p for p in (Path(out) / rel for rel in listed) if p.is_file()] + [events]
    if not dry_run:
        for path in found:
            path.unlink()
    return found


def synthesize(
    out: str | Path, num: int, clip: ClipSpec, params: dict[str, Any] | None = None, clips_per_file: int = 1,
    split: str = "train", show_progress: bool = True,
) -> Path:
    """Write `num` syncshapes files under `out`; returns the path of events.json."""
    out = Path(out)
    params = dict(params or {})
    params[f"{split}_size"] = max(int(params.get(f"{split}_size", 0)), num)
    file_clip = clip.model_copy(update={"frames": clip.frames * clips_per_file})
    ds = build("dataset", "syncshapes", clip=file_clip, split=split, **params)
    files: dict[str, Any] = {}
    with progress_bar(num, "synth", disable=not show_progress) as advance:
        for i in range(num):
            item = ds[i]
            name = ds.classes[item["label"]]
            rel = f"{name}/{split}_{i:05d}.mp4"
            write_mp4(out / rel, item["video"], file_clip.fps, item["waveform"], file_clip.sample_rate)
            frames = item["events"].nonzero().flatten().tolist()
            files[rel] = {"label": item["label"], "class": name, "event_frames": frames,
                          "event_times": [round(k / file_clip.fps, 6) for k in frames]}
            advance()
    record = {"clip": file_clip.model_dump(), "classes": ds.classes, "files": files}
    path = out / EVENTS_FILE
    tmp = out / f".{EVENTS_FILE}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)
    return path
