"""`proav data prepare`: the cache equals the dataset, reruns skip, kill -9 then rerun = clean run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import proav_core
from proav_core import ClipSpec, DataError, load_config
from proav_core.cli import main
from proav_core.data.prepare import prepare

from .helpers import FOLDER_CLIP, folder_config


def _config(tmp_path: Path, root: Path, **extra) -> Path:
    return folder_config(tmp_path, root, test_fraction="0.25", **extra)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a cache (relative path -> bytes); temporary files would show up too."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _prepare(cfg_path: Path, out: Path, *args: str) -> int:
    return main(["data", "prepare", str(cfg_path), "--out", str(out), "--no-progress", *args])


def test_cache_holds_exactly_what_the_dataset_gives(synth_root, tmp_path):
    cfg = _config(tmp_path, synth_root)
    assert _prepare(cfg, tmp_path / "c", "--sources-per-shard", "3") == 0
    for split in ("train", "test"):
        live = proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split=split, root=str(synth_root),
                                test_fraction=0.25)
        cached = proav_core.build("dataset", "prepared", clip=FOLDER_CLIP, split=split, root=str(tmp_path / "c"))
        assert len(cached) == len(live) > 0 and cached.classes == live.classes
        for i in range(len(live)):
            a, b = live[i], cached[i]
            for key in ("video", "audio", "waveform"):
                assert torch.equal(a[key], b[key]), (split, i, key)
            assert (a["label"], a["path"], a["start"], a["end"]) == (b["label"], b["path"], b["start"], b["end"])
    train = json.loads((tmp_path / "c" / "train" / "manifest.json").read_text())
    entry = train["sources"][next(iter(train["sources"]))]
    assert set(entry) == {"size", "mtime_ns", "sha256", "shard", "clips"} and len(entry["sha256"]) == 64
    assert train["complete"] and [s["file"] for s in train["shards"]] == ["shard-00000.pt", "shard-00001.pt"]


def test_rerun_skips_done_work_and_notices_changed_files(synth_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    cfg = load_config(_config(tmp_path, root))
    first = prepare(cfg, tmp_path / "c", ("train",), sources_per_shard=2, show_progress=False)["train"]
    before = _snapshot(tmp_path / "c")
    again = prepare(cfg, tmp_path / "c", ("train",), sources_per_shard=2, show_progress=False)["train"]
    assert (again.shards_written, again.shards_kept, again.processed) == (0, first.shards_written, 0)
    assert _snapshot(tmp_path / "c") == before
    files = sorted(root.rglob("*.mp4"))
    done = json.loads((tmp_path / "c" / "train" / "manifest.json").read_text())["sources"]
    train_files = [f for f in files if str(f) in done]
    os.utime(train_files[0], ns=(0, 10**18))  # touched, same bytes: the sha256 keeps the shard
    touched = prepare(cfg, tmp_path / "c", ("train",), sources_per_shard=2, show_progress=False)["train"]
    assert touched.shards_written == 0
    train_files[-1].write_bytes(files[0].read_bytes() if files[0] != train_files[-1] else files[1].read_bytes())
    changed = prepare(cfg, tmp_path / "c", ("train",), sources_per_shard=2, show_progress=False)["train"]
    assert changed.shards_written == 1 and changed.shards_kept == first.shards_written - 1


def test_another_config_needs_overwrite(synth_root, tmp_path, capsys):
    assert _prepare(_config(tmp_path, synth_root), tmp_path / "c", "--split", "test") == 0
    other = _config(tmp_path, synth_root, stride=0.5)
    assert _prepare(other, tmp_path / "c", "--split", "test") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _prepare(other, tmp_path / "c", "--split", "test", "--overwrite") == 0


def test_a_cache_from_before_a_new_parameter_is_kept_while_that_parameter_has_its_default(synth_root, tmp_path,
                                                                                          capsys):
    cfg = load_config(_config(tmp_path, synth_root))
    first = prepare(cfg, tmp_path / "c", ("test",), show_progress=False)["test"]
    manifest = tmp_path / "c" / "test" / "manifest.json"
    record = json.loads(manifest.read_text())
    del record["config"]["dataset"]["resize"]  # written before video_folder had `resize`
    manifest.write_text(json.dumps(record))
    again = prepare(cfg, tmp_path / "c", ("test",), show_progress=False)["test"]  # resize = "crop", the default
    assert (again.shards_written, again.shards_kept) == (0, first.shards_written)
    assert _prepare(_config(tmp_path, synth_root, resize='"pad"'), tmp_path / "c", "--split", "test") == 2
    assert "prepared with another config" in capsys.readouterr().err


def test_killed_prepare_resumes_to_the_same_cache(synth_root, tmp_path):
    """kill -9 a `proav data prepare` once its first shard exists; the rerun ends identical to a clean run."""
    cfg = _config(tmp_path, synth_root)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert _prepare(cfg, clean, "--split", "all", "--sources-per-shard", "1") == 0
    cmd = [sys.executable, "-m", "proav_core", "data", "prepare", str(cfg), "--out", str(killed), "--split", "all",
           "--sources-per-shard", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_shard, deadline = killed / "all" / "shard-00000.pt", time.monotonic() + 120
    while not first_shard.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "prepare finished before it could be killed"
    state = killed / "all" / "manifest.json"
    assert not state.exists() or not json.loads(state.read_text())["complete"]
    assert _snapshot(killed) != _snapshot(clean)  # really interrupted
    assert _prepare(cfg, killed, "--split", "all", "--sources-per-shard", "1") == 0
    assert _snapshot(killed) == _snapshot(clean)


def test_syncshapes_prepares_through_item_blocks(tmp_path):
    clip = ClipSpec(frames=4, fps=8.0, height=16, width=16)
    cfg_path = tmp_path / "s.toml"
    cfg_path.write_text('name = "s"\n[clip]\nframes = 4\nfps = 8.0\nheight = 16\nwidth = 16\n'
                        '[dataset]\nname = "syncshapes"\ntrain_size = 10\ntest_size = 3\n')
    cfg = load_config(cfg_path)
    result = prepare(cfg, tmp_path / "c", show_progress=False)
    assert (result["train"].clips, result["test"].clips) == (10, 3)
    live = proav_core.build("dataset", "syncshapes", clip=clip, train_size=10, test_size=3, split="all")
    cached = proav_core.build("dataset", "prepared", clip=clip, split="all", root=str(tmp_path / "c"))
    assert len(cached) == 13
    for i in (0, 9, 12):
        assert (cached[i]["video"] - live[i]["video"]).abs().max() <= 1 / 127.5 + 1e-6  # 8-bit frames
        assert torch.equal(cached[i]["audio"], live[i]["audio"]) and torch.equal(cached[i]["events"], live[i]["events"])


def test_prepared_dataset_refuses_incomplete_or_mismatched_caches(synth_root, tmp_path):
    assert _prepare(_config(tmp_path, synth_root), tmp_path / "c", "--split", "test") == 0
    with pytest.raises(DataError, match=r"\[clip\]"):
        proav_core.build("dataset", "prepared", clip=ClipSpec(frames=8, fps=8.0, height=32, width=32),
                         split="test", root=str(tmp_path / "c"))
    manifest = tmp_path / "c" / "test" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"complete": true', '"complete": false'))
    with pytest.raises(DataError, match="incomplete"):
        proav_core.build("dataset", "prepared", clip=FOLDER_CLIP, split="test", root=str(tmp_path / "c"))
    with pytest.raises(DataError, match="no prepared data"):
        proav_core.build("dataset", "prepared", clip=FOLDER_CLIP, split="train", root=str(tmp_path / "c"))


def test_an_item_a_dataset_plugin_refuses_is_skipped_and_listed_the_rest_kept(tmp_path):
    """A dataset plugin raises DataError for an unusable item (docs/plugins.md, section 5):
    prepare leaves that item out, keeps its block's other items, lists it; --strict stops."""
    from proav_core.data.prepare import ITEMS_PER_SOURCE, prepare_split

    clip = ClipSpec(frames=4, fps=8.0, height=16, width=16)
    inner = proav_core.build("dataset", "syncshapes", clip=clip, train_size=12, test_size=2, split="train")

    class Refusing:  # a plugin's dataset without files: items by index
        classes = inner.classes

        def __len__(self):
            return len(inner)

        def __getitem__(self, i):
            if i == 9:
                raise DataError("item 9's source is gone; re-export it", source="export/0009.bin")
            return inner[i]

    fingerprint = {"test": "refusing"}
    result = prepare_split(Refusing(), tmp_path / "train", fingerprint, "train", show_progress=False)
    assert result.clips == 11 and ITEMS_PER_SOURCE < 12  # the block of item 9 kept its other items
    (skipped,) = result.skipped
    assert skipped.reason == "refused by the dataset" and "item 9: item 9's source is gone; re-export it" in skipped.detail
    manifest = json.loads((tmp_path / "train" / "manifest.json").read_text())
    assert manifest["skipped"][0]["reason"] == "refused by the dataset"
    with pytest.raises(DataError, match="refused by the dataset.*item 9's source is gone"):
        prepare_split(Refusing(), tmp_path / "strict", fingerprint, "train", strict=True, show_progress=False)
