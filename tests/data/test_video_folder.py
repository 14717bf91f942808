"""video_folder on real files written by `proav data synth`: labels, clips per file, splits, sync."""

from __future__ import annotations

import json

import pytest
from torch.utils.data import default_collate

import proav_core
from proav_core import ClipSpec, ParameterError
from proav_core.cli import main

from .helpers import FOLDER_CLIP


def _folder(root, split="train", clip=FOLDER_CLIP, **params):
    return proav_core.build("dataset", "video_folder", clip=clip, split=split, root=str(root), **params)


def test_synth_writes_class_folders_and_event_frames(synth_root):
    record = json.loads((synth_root / "events.json").read_text())
    assert record["classes"] == ["circle-drum-0", "square-wood-1"]
    assert sorted(p.parent.name for p in synth_root.rglob("*.mp4")) == ["circle-drum-0"] * 4 + ["square-wood-1"] * 4
    assert record["clip"]["frames"] == 16
    scene = proav_core.build("dataset", "syncshapes", clip=ClipSpec(**record["clip"]), num_classes=2, train_size=8)
    for rel, entry in record["files"].items():
        index = int(rel.split("_")[-1].split(".")[0])
        assert entry["event_frames"] == scene[index]["events"].nonzero().flatten().tolist()
        assert entry["class"] == rel.split("/")[0]


def test_labels_clips_and_contract(synth_root):
    ds = _folder(synth_root, "all")
    assert ds.classes == ["circle-drum-0", "square-wood-1"] and ds.skipped == []
    assert len(ds) == 16  # 8 files x 2 clips
    item = ds[3]
    assert item["video"].shape == (3, 8, 16, 16) and item["audio"].shape == (8, 16, 16)
    assert item["waveform"].shape == (FOLDER_CLIP.num_samples,)
    assert item["label"] == ds.classes.index(item["path"].split("/")[-2])
    assert (item["start"], item["end"]) == (1.0, 2.0)  # the second clip of its file
    batch = default_collate([ds[0], ds[1]])
    assert batch["video"].shape == (2, 3, 8, 16, 16) and batch["start"].tolist() == [0.0, 1.0]


def test_clip_matches_the_synthetic_scene_and_its_events(synth_root):
    record = json.loads((synth_root / "events.json").read_text())
    rel, entry = next((r, e) for r, e in record["files"].items() if any(f >= 10 for f in e["event_frames"]))
    index = int(rel.split("_")[-1].split(".")[0])
    scene_clip = ClipSpec(**record["clip"])
    scene = proav_core.build("dataset", "syncshapes", clip=scene_clip, num_classes=2, train_size=8)[index]
    ds = _folder(synth_root, "all")
    item = ds[ds.index.index((str(synth_root / rel), 1.0))]  # the file's second clip: scene frames 8..15
    assert (item["video"] - scene["video"][:, 8:]).abs().mean() < 0.05
    wave = scene["waveform"][FOLDER_CLIP.num_samples :]
    assert float((item["waveform"] - wave).norm() / wave.norm()) < 0.15
    bounds = [round(i * FOLDER_CLIP.num_samples / 8) for i in range(9)]
    for k in [f - 8 for f in entry["event_frames"] if f >= 10]:
        before = item["waveform"][bounds[k] - 64 : bounds[k]].abs().max()
        after = item["waveform"][bounds[k] : bounds[k] + 64].abs().max()
        assert after > 3 * before, k


def test_split_is_by_file_deterministic_and_complete(synth_root):
    train, test = _folder(synth_root, "train", test_fraction=0.25), _folder(synth_root, "test", test_fraction=0.25)
    assert len(test.files) == 2 and len(train.files) == 6
    assert not set(train.files) & set(test.files)
    assert train.files == _folder(synth_root, "train", test_fraction=0.25).files
    other = _folder(synth_root, "test", test_fraction=0.25, split_seed=1)
    assert len(other.files) == 2
    assert len(train) == 12 and len(test) == 4


def test_stride_offset_and_cap(synth_root):
    ds = _folder(synth_root, "all", stride=0.5, offset=0.25)  # 2 s files, 1 s clips: 0.25, 0.75
    assert ds.starts[str(ds.files[0])] == [0.25, 0.75]
    assert len(_folder(synth_root, "all", max_clips_per_file=1)) == 8
    flat = _folder(synth_root, "all", labels="none")
    assert flat.classes == [] and flat[0]["label"] == -1


def test_missing_root_and_params_are_named(tmp_path, synth_root):
    with pytest.raises(proav_core.DataError, match="does not exist"):
        _folder(tmp_path / "nowhere")
    with pytest.raises(ParameterError, match="root"):
        proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP)


def test_synth_cli_writes_files(tmp_path):
    code = main(["data", "synth", "--out", str(tmp_path / "s"), "--num", "2", "--set", "clip.height=16",
                 "--set", "clip.width=16", "--set", "dataset.num_classes=1"])
    assert code == 0
    assert len(list((tmp_path / "s").rglob("*.mp4"))) == 2
    assert json.loads((tmp_path / "s" / "events.json").read_text())["classes"] == ["circle-drum-0"]
    code = main(["data", "synth", "--out", str(tmp_path / "t"), "--num", "1", "--set", "dataset.name=\"video_folder\"",
                 "--set", "dataset.root=\"x\""])
    assert code == 2


def test_synth_into_a_folder_it_wrote_needs_overwrite(tmp_path, capsys):
    """Adding files would leave events.json describing only the new ones: refused, or replaced whole."""
    small = ["--set", "clip.height=16", "--set", "clip.width=16", "--set", "dataset.num_classes=1"]
    out = tmp_path / "s"
    assert main(["data", "synth", "--out", str(out), "--num", "3", *small]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["data", "synth", "--out", str(out), "--num", "1", *small]) == 2
    assert f"{out} already holds 3 synthesised file(s) and their events.json; pass --overwrite" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert main(["data", "synth", "--out", str(out), "--num", "1", *small, "--overwrite"]) == 0
    assert len(list(out.rglob("*.mp4"))) == 1
    assert list(json.loads((out / "events.json").read_text())["files"]) == ["circle-drum-0/train_00000.mp4"]
    videos = tmp_path / "mine"
    (videos / "a").mkdir(parents=True)
    (videos / "a" / "v.mp4").write_bytes(b"a user's video")
    assert main(["data", "synth", "--out", str(videos), "--num", "1", *small, "--overwrite"]) == 2
    assert "holds videos that no earlier synth wrote" in capsys.readouterr().err
    assert (videos / "a" / "v.mp4").read_bytes() == b"a user's video"
