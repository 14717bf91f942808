"""`proav data prepare`: a dataset, preprocessed once into a cache of sharded tensors.

Layout: OUT/<split>/manifest.json and OUT/<split>/shard-00000.pt, ... (see manifest.py and
shards.py). The dataset's sources (for video_folder: its files, via `sources()` and
`source_items(source)`; for any other dataset: blocks of ITEMS_PER_SOURCE items) are taken
in order, SOURCES_PER_SHARD at a time, and shard i always holds group i, so an interrupted
run (even kill -9) and a rerun end with the same bytes as one uninterrupted run:
- a group whose sources are all unchanged (size + mtime, else sha256) and whose shard file is
  there with the recorded size is skipped;
- shards and the manifest are written atomically, the manifest after each shard.
Bad files are skipped and reported (rich table at the end, `skipped` in the manifest);
strict mode raises the first as a DataError naming the file and the reason, and removes the
folders this run made (nothing is left behind; a cache from an earlier run is kept).
A split that ends with no clips draws a ProavWarning naming the split and why: every one of
its sources was skipped (named with their reasons), or none fell into it (a dataset may say
why in `empty_split_reason`; its `assigned` lists the sources given to the split, bad ones
included, when they differ from `sources()`).
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proav_core.build import build, build_component
from proav_core.config import ExperimentConfig, to_plain
from proav_core.data.bad_input import BadInput, Skipped
from proav_core.data.manifest import MANIFEST, Manifest, file_sha256, file_stat
from proav_core.data.shards import write_shard
from proav_core.errors import DataError, ProavError, ProavWarning, UsageError
from proav_core.plugin_manager import get_registry
from proav_core.interfaces.data import ClipSample
from proav_core.progress import progress_bar

SOURCES_PER_SHARD = 8
ITEMS_PER_SOURCE = 8


@dataclass
class SplitResult:
    """What one split's prepare did."""

    folder: Path
    clips: int = 0  # clips in the finished cache
    processed: int = 0  # clips decoded in this run (kept shards not counted)
    shards_written: int = 0
    shards_kept: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # also raised as ProavWarning


def config_fingerprint(cfg: ExperimentConfig) -> dict[str, Any]:
    """The parts of a config that decide a cache's contents."""
    return {
        "clip": cfg.clip.model_dump(),
        "dataset": to_plain(cfg.dataset),
        "audio_repr": to_plain(cfg.audio_repr) if cfg.audio_repr is not None else "(default)",
    }


def same_contents(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when a cache prepared under fingerprint `old` holds what `new` asks for. A component
    parameter that is new since the cache was written counts as the same when it has its
    default value (a newer proav added it; the old behaviour is its default)."""
    if old == new:
        return True
    if set(old) != set(new) or old["clip"] != new["clip"]:
        return False
    for kind in ("dataset", "audio_repr"):  # the fingerprint's section of each is named after the kind
        a, b = old[kind], new[kind]
        if a == b:
            continue
        if not (isinstance(a, dict) and isinstance(b, dict)) or a.get("name") != b.get("name"):
            return False
        extra = set(b) - set(a)
        if set(a) - set(b) or any(a[k] != b[k] for k in a):
            return False
        try:
            fields = get_registry().get(kind, b["name"]).params.model_fields
        except ProavError:
            return False
        if any(k not in fields or to_plain(fields[k].get_default(call_default_factory=True)) != b[k] for k in extra):
            return False
    return True


def _sources(ds: Any) -> tuple[list[str], Callable[[str], list[ClipSample]], bool, dict[str, BadInput]]:
    """(source keys, loader, whether keys are files, refusals) for any dataset. A dataset without
    files is read in blocks of ITEMS_PER_SOURCE items; an item it refuses (DataError) is left
    out of its block and the block's key is filled in `refusals` (the other items are kept)."""
    if hasattr(ds, "sources") and hasattr(ds, "source_items"):
        return list(ds.sources()), ds.source_items, True, {}
    n = len(ds)
    keys = [f"items:{a}-{min(a + ITEMS_PER_SOURCE, n)}" for a in range(0, n, ITEMS_PER_SOURCE)]
    refusals: dict[str, BadInput] = {}

    def load(key: str) -> list[ClipSample]:
        a, b = map(int, key.removeprefix("items:").split("-"))
        items, refused = [], []
        for i in range(a, b):
            try:
                items.append(ds[i])
            except DataError as err:
                refused.append(f"item {i}: {err}")
        refusals.pop(key, None)
        if refused:
            refusals[key] = BadInput(key, "refused by the dataset", "; ".join(refused))
        return items

    return keys, load, False, refusals


def as_bad_input(err: DataError, source: str) -> BadInput:
    """A DataError raised by a dataset for `source` as the BadInput prepare reports (a BadInput as it is)."""
    return err if isinstance(err, BadInput) else BadInput(source, "refused by the dataset", str(err))


def _open_manifest(folder: Path, fingerprint: dict[str, Any], split: str, overwrite: bool) -> Manifest:
    for leftover in folder.glob(".*.tmp*"):  # half-written files of an interrupted run
        leftover.unlink()
    if (folder / MANIFEST).is_file():
        old = Manifest.load(folder)
        if same_contents(old.config, fingerprint) and not overwrite:
            old.complete = False
            return old
        if not overwrite:
            raise UsageError(
                f"{folder} holds data prepared with another config (clip, dataset or audio_repr differ); "
                "pass --overwrite to replace it, or choose another --out")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return Manifest(config=fingerprint, split=split)


def _group_done(manifest: Manifest, index: int, group: list[str], folder: Path, files: bool) -> bool:
    if index >= len(manifest.shards) or manifest.shards[index]["sources"] != group:
        return False
    shard = manifest.shards[index]
    if shard["file"] is not None:
        path = folder / shard["file"]
        if not path.is_file() or path.stat().st_size != shard["bytes"]:
            return False
    return all(manifest.source_unchanged(s, file_stat(s) if files else None) for s in group)


def prepare_split(
    ds: Any, folder: Path, fingerprint: dict[str, Any], split: str, strict: bool = False,
    overwrite: bool = False, sources_per_shard: int = SOURCES_PER_SHARD, show_progress: bool = True,
    console: Any = None,
) -> SplitResult:
    """Prepare one split of a built dataset into `folder` (see the module doc)."""
    began = time.perf_counter()
    folder = Path(folder)
    manifest = _open_manifest(folder, fingerprint, split, overwrite)
    result = SplitResult(folder=folder, skipped=list(getattr(ds, "skipped", [])))
    if strict and result.skipped:
        first = result.skipped[0]
        raise BadInput(first.source, first.reason, first.detail)
    manifest.classes = list(getattr(ds, "classes", []))
    keys, load, files, refusals = _sources(ds)
    groups = [keys[i : i + sources_per_shard] for i in range(0, len(keys), sources_per_shard)]
    with progress_bar(len(keys), f"prepare {split}", console=console, disable=not show_progress) as advance:
        for index, group in enumerate(groups):
            if _group_done(manifest, index, group, folder, files):
                result.shards_kept += 1
                advance(len(group), clips=manifest.num_clips)
                continue
            items, entries = [], {}
            for source in group:
                entry: dict[str, Any] = dict(file_stat(source), sha256=file_sha256(source)) if files else {}
                try:
                    got = load(source)
                    bad = refusals.get(source)  # items of a block refused, the rest kept
                except DataError as err:
                    got, bad = [], as_bad_input(err, source)
                if bad is not None:
                    if strict:
                        raise bad
                    entry["skipped"] = {"reason": bad.reason, "detail": bad.detail}
                entries[source] = dict(entry, shard=index, clips=len(got))
                items.extend(got)
                advance(1, clips=manifest.num_clips + len(items))
            name = f"shard-{index:05d}.pt" if items else None
            size, digest = write_shard(folder / name, items) if items else (0, None)
            record = {"file": name, "sources": group, "clips": len(items), "bytes": size, "sha256": digest}
            manifest.shards[index:index + 1] = [record]
            for stale in set(manifest.sources) - set(keys):
                del manifest.sources[stale]
            manifest.sources.update(entries)
            manifest.save(folder)
            result.shards_written += 1
            result.processed += len(items)
    del manifest.shards[len(groups):]
    keep = {s["file"] for s in manifest.shards if s["file"]}
    for path in folder.glob("shard-*.pt"):
        if path.name not in keep:
            path.unlink()
    manifest.sources = {k: v for k, v in manifest.sources.items() if k in set(keys)}
    for source, entry in manifest.sources.items():
        if "skipped" in entry:
            if strict:  # found bad by an earlier run whose shard is kept
                raise BadInput(source, entry["skipped"]["reason"], entry["skipped"]["detail"])
            result.skipped.append(Skipped(source, entry["skipped"]["reason"], entry["skipped"]["detail"]))
    manifest.skipped = [s.to_dict() for s in sorted(result.skipped, key=lambda s: s.source)]
    manifest.complete = True
    manifest.save(folder)
    result.clips, result.seconds = manifest.num_clips, time.perf_counter() - began
    if result.clips == 0:
        result.warnings.append(f"the {split} split has 0 clips: {_why_empty(ds, keys, result.skipped)}")
    for message in result.warnings:
        warnings.warn(message, ProavWarning, stacklevel=2)
    return result


def _why_empty(ds: Any, keys: list[str], skipped: list[Skipped], show: int = 3) -> str:
    """Why a split prepared no clips: its sources were all skipped, or it had none."""
    sources = [str(s) for s in getattr(ds, "assigned", keys)]
    if not sources:
        return getattr(ds, "empty_split_reason", "the dataset has no items for it")
    reasons = {s.source: s.reason for s in skipped}
    named = [f"{s} ({reasons[s]})" for s in sources if s in reasons]
    listed = ", ".join(named[:show]) + (", ..." if len(named) > show else "")
    return f"all {len(sources)} of its source file(s) were skipped: {listed}" if named else (
        f"its {len(sources)} source(s) gave no clips")


def prepare(
    cfg: ExperimentConfig, out: str | Path, splits: tuple[str, ...] = ("train", "test"), strict: bool = False,
    overwrite: bool = False, sources_per_shard: int = SOURCES_PER_SHARD, show_progress: bool = True,
    console: Any = None,
) -> dict[str, SplitResult]:
    """Prepare each split of the config's dataset into OUT/<split>/."""
    if cfg.dataset is None:
        raise UsageError("the config has no [dataset] section: nothing to prepare")
    audio_repr = (build_component(cfg.audio_repr, clip=cfg.clip) if cfg.audio_repr is not None
                  else build("audio_repr", None, clip=cfg.clip))
    fingerprint = config_fingerprint(cfg)
    out = Path(out)
    new_splits = [out / s for s in splits if not (out / s).exists()]
    new_parents = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    results = {}
    try:
        for split in splits:
            ds = build_component(cfg.dataset, clip=cfg.clip, audio_repr=audio_repr, split=split)
            results[split] = prepare_split(ds, out / split, fingerprint, split, strict, overwrite,
                                           sources_per_shard, show_progress, console)
        if all(r.clips == 0 for r in results.values()):
            raise UsageError(f"no clips prepared into {out}: every split is empty ({'; '.join(_empty_reasons(results))})"
                             f"{_clip_hint(cfg, results)}; nothing was kept")
    except (BadInput, UsageError):  # strict mode (or on_bad_file = "error"), or nothing usable: leave nothing this run made
        for folder in new_splits:
            shutil.rmtree(folder, ignore_errors=True)
        for folder in new_parents:
            try:
                folder.rmdir()
            except OSError:
                break  # not made, or holds something else: keep it and its parents
        raise
    return results


def _empty_reasons(results: dict[str, SplitResult]) -> list[str]:
    return [w.removeprefix("the ") for r in results.values() for w in r.warnings if " has 0 clips" in w]


def _clip_hint(cfg: ExperimentConfig, results: dict[str, SplitResult]) -> str:
    """When files were too short for the config's clip: the clip's length and what to set."""
    if not any(s.reason == "shorter than one clip" for r in results.values() for s in r.skipped):
        return ""
    seconds = cfg.clip.frames / cfg.clip.fps
    return (f". The config's clip is {cfg.clip.frames} frames at {cfg.clip.fps:g} fps ({seconds:g} s): set [clip] "
            "to fit the files, e.g. --set clip.frames=8 --set clip.fps=8.0 for the 1-second clips of `proav data synth`")
