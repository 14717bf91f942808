"""Every kind of bad input gets a message naming the file and the reason; skipped by default."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile
import torch

import proav_core
from proav_core import DataError
from proav_core.cli import main
from proav_core.data import BadInput, probe_media, read_clip, write_mp4

from .helpers import FOLDER_CLIP, write_av

EXPECTED = {
    "random_bytes.mp4": "not a media file",
    "notes.mp4": "not a media file",
    "empty.mp4": "empty file",
    "garbled.mkv": "corrupt",
    "truncated.mp4": "corrupt",
    "silent.mp4": "no audio stream",
    "audio_only.mp4": "no video stream",
    "song.m4a": "no video stream",
    "song.wav": "no video stream",
    "short.mp4": "shorter than one clip",
    "empty_audio.mkv": "zero-length audio",
    "dangling.mp4": "unreadable path",
    "clip.flv": "unsupported container",
}


def _make_bad_files(folder, good_file):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    (folder / "random_bytes.mp4").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (folder / "notes.mp4").write_text("shot list\n1. the beach\n")
    (folder / "empty.mp4").write_bytes(b"")
    ebml = b"\x1a\x45\xdf\xa3"  # Matroska's signature, then damage
    (folder / "garbled.mkv").write_bytes(ebml + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    data = good_file.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])  # the index (moov) is at the end
    video = torch.rand(3, 8, 16, 16) * 2 - 1
    write_mp4(folder / "silent.mp4", video, 8.0, None)
    for name in ("audio_only.mp4", "song.m4a"):  # the same audio-only file under both names
        with __import__("av").open(str(folder / name), "w", format="mp4") as out:
            stream = out.add_stream("aac", rate=16000, layout="mono")
            frame = __import__("av").AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                                             layout="mono")
            frame.sample_rate, frame.pts = 16000, 0
            out.mux(stream.encode(frame))
            out.mux(stream.encode())
    soundfile.write(folder / "song.wav", np.zeros(16000, np.float32), 16000)
    write_mp4(folder / "short.mp4", video[:, :4], 8.0, torch.zeros(8000), 16000)  # 0.5 s, a clip is 1 s
    write_av(folder / "empty_audio.mkv", np.zeros((8, 16, 16, 3), np.uint8), 8.0, np.zeros(0, np.float32),
             container="matroska")
    (folder / "dangling.mp4").symlink_to(folder / "missing-target.mp4")
    (folder / "clip.flv").write_bytes(b"FLV\x01")


@pytest.fixture(scope="module")
def mixed_root(synth_root, tmp_path_factory):
    """Two good files in their class folders plus one file of every bad kind in bad/."""
    root = tmp_path_factory.mktemp("mixed")
    goods = sorted(synth_root.rglob("*.mp4"))[:2]
    for good in goods:
        (root / good.parent.name).mkdir(exist_ok=True)
        shutil.copy(good, root / good.parent.name / good.name)
    _make_bad_files(root / "bad", goods[0])
    return root


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_bad_file_is_named_with_its_reason(mixed_root, name):
    path = mixed_root / "bad" / name
    with pytest.raises(BadInput) as info:
        probe_media(path)
        read_clip(path, FOLDER_CLIP)
    assert info.value.reason == EXPECTED[name]
    assert str(path) in str(info.value) and info.value.source == str(path)
    assert isinstance(info.value, DataError)


def test_empty_and_non_media_files_are_named_for_what_they_are(mixed_root):
    def message(name: str) -> str:
        with pytest.raises(BadInput) as info:
            probe_media(mixed_root / "bad" / name)
        return str(info.value)

    bad = mixed_root / "bad"
    assert message("empty.mp4") == f"{bad / 'empty.mp4'}: empty file (0 bytes)"
    assert message("notes.mp4") == f"{bad / 'notes.mp4'}: not a media file (it holds text, starting 'shot list')"
    assert message("random_bytes.mp4") == (f"{bad / 'random_bytes.mp4'}: not a media file "
                                           "(its first bytes match no audio or video container)")
    for name in ("empty.mp4", "notes.mp4", "random_bytes.mp4"):
        assert "FFmpeg" not in message(name) and "Invalid data" not in message(name)
    # a damaged container is still "corrupt", with FFmpeg's reason
    assert "corrupt (FFmpeg cannot open it: Invalid data found" in message("truncated.mp4")


def test_audio_files_are_judged_by_their_streams_not_their_names(mixed_root):
    reasons = {}
    for name in ("audio_only.mp4", "song.m4a", "song.wav"):
        with pytest.raises(BadInput) as info:
            probe_media(mixed_root / "bad" / name)
        reasons[name] = (info.value.reason, info.value.detail)
    assert set(reasons.values()) == {("no video stream", "the file holds audio only")}


def test_read_clip_of_a_folder_and_of_a_too_late_start(mixed_root, tmp_path):
    with pytest.raises(BadInput, match="unreadable path.*folder"):
        read_clip(mixed_root / "bad", FOLDER_CLIP)
    good = next(mixed_root.glob("*/*.mp4"))
    with pytest.raises(BadInput, match=f"{good}: shorter than one clip"):
        read_clip(good, FOLDER_CLIP, start=1.5)  # a 2 s file


def test_video_folder_skips_and_lists_bad_files(mixed_root):
    ds = proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="all", root=str(mixed_root))
    assert len(ds.files) == 2 and len(ds) == 4  # nothing good is lost
    assert {s.source.split("/")[-1]: s.reason for s in ds.skipped} == EXPECTED
    # classes come from every media file's folder, good or bad, so labels never shift
    assert ds.classes == sorted({"bad", *(p.parent.name for p in ds.files)})
    with pytest.raises(DataError, match="bad/"):
        proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="all", root=str(mixed_root),
                         on_bad_file="error")


def _config(tmp_path, root):
    path = tmp_path / "cfg.toml"
    path.write_text(f'name = "t"\noutput_dir = "{tmp_path}"\n[clip]\nframes = 8\nfps = 8.0\nheight = 16\n'
                    f'width = 16\n[dataset]\nname = "video_folder"\nroot = "{root}"\n')
    return path


def test_prepare_reports_bad_files_and_keeps_the_good(mixed_root, tmp_path, capsys):
    code = main(["data", "prepare", str(_config(tmp_path, mixed_root)), "--out", str(tmp_path / "c"),
                 "--split", "all", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{len(EXPECTED)} file(s) skipped" in out
    for name, reason in EXPECTED.items():
        assert name in out and reason in out
    manifest = json.loads((tmp_path / "c" / "all" / "manifest.json").read_text())
    assert {s["source"].split("/")[-1]: s["reason"] for s in manifest["skipped"]} == EXPECTED
    cached = proav_core.build("dataset", "prepared", clip=FOLDER_CLIP, split="all", root=str(tmp_path / "c"))
    assert len(cached) == 4 == sum(s["clips"] for s in manifest["shards"])
    assert sorted({cached[i]["path"] for i in range(4)}) == sorted(str(p) for p in mixed_root.glob("*/*.mp4")
                                                                    if p.parent.name != "bad")


def test_prepare_strict_stops_at_the_first_bad_file(mixed_root, tmp_path, capsys):
    code = main(["data", "prepare", str(_config(tmp_path, mixed_root)), "--out", str(tmp_path / "c"),
                 "--split", "all", "--strict", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "bad/" in err and any(reason in err for reason in EXPECTED.values())


def test_decode_time_damage_is_skipped_and_recorded(synth_root, tmp_path, capsys):
    root = tmp_path / "data"
    good = sorted(synth_root.rglob("*.mp4"))[0]
    (root / "a").mkdir(parents=True)
    shutil.copy(good, root / "a" / "good.mp4")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (16, 16, 16, 3), dtype=np.uint8)
    write_av(root / "a" / "cut.mkv", frames, 8.0, (rng.standard_normal(32000) * 0.1).astype(np.float32),
             container="matroska")
    data = (root / "a" / "cut.mkv").read_bytes()
    (root / "a" / "cut.mkv").write_bytes(data[: int(len(data) * 0.6)])  # header says 2 s, holds ~1.3 s
    ds = proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="all", root=str(root))
    assert len(ds.files) == 2  # the headers look fine
    assert main(["data", "prepare", str(_config(tmp_path, root)), "--out", str(tmp_path / "c"),
                 "--split", "all", "--no-progress"]) == 0
    manifest = json.loads((tmp_path / "c" / "all" / "manifest.json").read_text())
    entry = manifest["sources"][str(root / "a" / "cut.mkv")]
    assert entry["clips"] == 0 and entry["skipped"]["reason"] == "shorter than one clip"
    assert manifest["sources"][str(root / "a" / "good.mp4")]["clips"] == 2
    assert "cut.mkv" in capsys.readouterr().out
