"""What `proav data prepare` says beyond the bad-file table: folders without class subfolders,
splits that end up empty, and a --strict run that stops leaves nothing behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import proav_core
from proav_core.cli import main
from proav_core.data.prepare import prepare
from proav_core.data import BadInput
from proav_core.errors import ProavWarning, UsageError

from .helpers import FOLDER_CLIP, folder_config, write_av


def _config(tmp_path: Path, root: Path, **extra: str) -> Path:
    return folder_config(tmp_path, root, **extra)


def _prepare(cfg: Path, out: Path, *args: str) -> int:
    return main(["data", "prepare", str(cfg), "--out", str(out), "--no-progress", *args])


def _copy_goods(synth_root: Path, root: Path, count: int, flat: bool = False) -> list[Path]:
    """`count` synthesised files under root: in their class folders, or all directly in root."""
    copied = []
    for good in sorted(synth_root.rglob("*.mp4"))[:count]:
        target = root / good.name if flat else root / good.parent.name / good.name
        target.parent.mkdir(parents=True, exist_ok=True)
        copied.append(Path(shutil.copy(good, target)))
    return copied


def _cut_file(path: Path) -> Path:
    """A 2 s mkv cut to 60 %: its header looks fine, decoding finds it too short."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.random.default_rng(0).integers(0, 255, (16, 16, 16, 3), dtype=np.uint8)
    write_av(path, frames, 8.0, np.zeros(32000, np.float32), container="matroska")
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    return path


def _test_split_file(root: Path) -> Path:
    (only,) = proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="test", root=str(root)).files
    return only


# ----------------------------------------------------------------------------- labels = "folders"


def test_folder_labels_without_class_subfolders_warn_how_to_lay_it_out(synth_root, tmp_path):
    root = tmp_path / "flat"
    _copy_goods(synth_root, root, 2, flat=True)
    with pytest.warns(ProavWarning) as record:
        ds = proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="all", root=str(root))
    assert ds.classes == [] and len(ds) == 4
    (message,) = [str(w.message) for w in record]
    assert f'{root}: labels = "folders" but no video sits in a subfolder' in message
    assert f"{root}/<class>/<video>.mp4" in message and 'dataset.labels = "none"' in message


def test_no_label_warning_when_it_is_not_needed(synth_root, tmp_path, recwarn):
    root = tmp_path / "flat"
    _copy_goods(synth_root, root, 2, flat=True)
    proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="all", root=str(root), labels="none")
    proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="all", root=str(synth_root))
    assert not [w for w in recwarn if issubclass(w.category, ProavWarning)]


def test_prepare_prints_the_label_warning_once(synth_root, tmp_path, capsys):
    root = tmp_path / "flat"
    _copy_goods(synth_root, root, 4, flat=True)
    assert _prepare(_config(tmp_path, root), tmp_path / "c") == 0
    err = capsys.readouterr().err
    assert err.count('warning: ') == 1  # built for train and for test, said once
    assert f'warning: {root}: labels = "folders" but no video sits in a subfolder' in err
    assert json.loads((tmp_path / "c" / "train" / "manifest.json").read_text())["classes"] == []


# ----------------------------------------------------------------------------- empty splits


def test_a_split_whose_only_file_is_broken_warns_naming_it(synth_root, tmp_path, capsys):
    root = tmp_path / "data"
    _copy_goods(synth_root, root, 3)
    broken = _test_split_file(root)
    broken.write_text("not a video\n")
    assert _prepare(_config(tmp_path, root), tmp_path / "c") == 0
    err = capsys.readouterr().err
    assert (f"warning: the test split has 0 clips: all 1 of its source file(s) were skipped: "
            f"{broken} (not a media file)") in err
    assert "train split has 0 clips" not in err


def test_a_split_that_gets_no_file_warns_why(synth_root, tmp_path):
    root = tmp_path / "data"
    _copy_goods(synth_root, root, 1)
    cfg = proav_core.load_config(_config(tmp_path, root))
    with pytest.warns(ProavWarning, match="the test split has 0 clips"):
        results = prepare(cfg, tmp_path / "c", show_progress=False)
    assert results["train"].clips == 2 and results["train"].warnings == []
    assert results["test"].warnings == [
        f"the test split has 0 clips: test_fraction = 0.1 puts 0 of the 1 video file(s) under {root} in the "
        "test split; change dataset.test_fraction or add files"]


def test_nothing_usable_is_refused_and_leaves_nothing(synth_root, tmp_path):
    """Every split empty (here: the one file is too short when decoded): an error naming why and
    the clip length, not a cache of 0 clips that a corrected rerun would then have to --overwrite."""
    root = tmp_path / "data"
    _cut_file(root / "a" / "cut.mkv")
    cfg = proav_core.load_config(_config(tmp_path, root))
    out = tmp_path / "new" / "c"
    with pytest.raises(UsageError) as caught, pytest.warns(ProavWarning):
        prepare(cfg, out, splits=("all",), show_progress=False)
    seconds = cfg.clip.frames / cfg.clip.fps
    assert str(caught.value) == (
        f"no clips prepared into {out}: every split is empty (all split has 0 clips: all 1 of its source file(s) "
        f"were skipped: {root / 'a' / 'cut.mkv'} (shorter than one clip)). The config's clip is {cfg.clip.frames} "
        f"frames at {cfg.clip.fps:g} fps ({seconds:g} s): set [clip] to fit the files, e.g. --set clip.frames=8 "
        "--set clip.fps=8.0 for the 1-second clips of `proav data synth`; nothing was kept")
    assert not (tmp_path / "new").exists()


def test_synth_files_under_a_longer_clip_exit_2_and_a_fitting_clip_prepares(tmp_path, capsys):
    """The README's pair: `data synth` (1-second clips) then `data prepare` of a folder config."""
    root, out = tmp_path / "synth", tmp_path / "c"
    assert main(["data", "synth", "--out", str(root), "--num", "4"]) == 0
    longer = ["--set", "clip.frames=16", "--set", "clip.fps=10.0"]
    assert _prepare(_config(tmp_path, root), out, *longer) == 2
    assert "no clips prepared" in capsys.readouterr().err and not out.exists()
    fitting = ["--set", "clip.frames=8", "--set", "clip.fps=8.0"]
    assert _prepare(_config(tmp_path, root), out, *fitting) == 0
    assert json.loads((out / "train" / "manifest.json").read_text())["complete"]


# ----------------------------------------------------------------------------- --strict


def test_strict_refusal_at_indexing_leaves_no_folder(synth_root, tmp_path, capsys):
    root = tmp_path / "data"
    _copy_goods(synth_root, root, 3)
    broken = _test_split_file(root)
    broken.write_bytes(b"")
    out = tmp_path / "new" / "cache"
    assert _prepare(_config(tmp_path, root), out, "--strict") == 1
    assert f"{broken}: empty file (0 bytes)" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # not the train split it finished, nor an empty test folder


def test_strict_refusal_while_decoding_leaves_no_shards(synth_root, tmp_path, capsys):
    root = tmp_path / "data"
    _copy_goods(synth_root, root, 2)
    cut = _cut_file(root / "zz" / "cut.mkv")  # sorted last: the good files' shards are written first
    cfg = _config(tmp_path, root)
    assert _prepare(cfg, tmp_path / "c", "--strict", "--split", "all", "--sources-per-shard", "1") == 1
    assert f"{cut}: shorter than one clip" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    # an earlier run's cache is kept: strict refuses it (the bad file is on record) and changes nothing
    assert _prepare(cfg, tmp_path / "c", "--split", "all") == 0
    before = {p: p.read_bytes() for p in (tmp_path / "c").rglob("*") if p.is_file()}
    with pytest.raises(BadInput, match="cut.mkv: shorter than one clip"):
        prepare(proav_core.load_config(cfg), tmp_path / "c", splits=("all",), strict=True, show_progress=False)
    assert {p: p.read_bytes() for p in (tmp_path / "c").rglob("*") if p.is_file()} == before
