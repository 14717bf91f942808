"""Reading and writing media: round trips within codec tolerance, frame timing, crop, containers."""

from __future__ import annotations

import math

import av
import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

import proav_core
from proav_core import ClipSpec
from proav_core.data import (
    list_media_files,
    probe_media,
    read_clip,
    save_frame_strip,
    save_mel_image,
    write_clip_outputs,
    write_mp4,
    write_wav,
)
from proav_core.data.decode import decode_clips

from .helpers import write_av

HOP = 128  # mel_frames' default hop: the alignment tolerance the issue asks for

CLIP = ClipSpec(frames=16, fps=8.0, height=32, width=32)


def _lag(a: torch.Tensor, b: torch.Tensor) -> int:
    """Shift (samples) that best aligns b onto a."""
    n = a.shape[0]
    corr = torch.fft.irfft(torch.fft.rfft(a, 2 * n) * torch.fft.rfft(b, 2 * n).conj(), 2 * n)
    lag = int(corr.argmax())
    return lag if lag < n else lag - 2 * n


@pytest.fixture(scope="module")
def shapes_clip():
    ds = proav_core.build("dataset", "syncshapes", clip=CLIP, train_size=2)
    return ds[1]


def test_mp4_round_trip_frames_audio_and_duration(tmp_path, shapes_clip):
    path = write_mp4(tmp_path / "a.mp4", shapes_clip["video"], CLIP.fps, shapes_clip["waveform"], CLIP.sample_rate)
    video, wave = read_clip(path, CLIP)
    assert video.shape == shapes_clip["video"].shape and wave.shape == shapes_clip["waveform"].shape
    err = (video - shapes_clip["video"]).abs()
    assert err.mean() < 0.03  # H.264 at crf 17 with 4:2:0 chroma, in [-1, 1] units
    psnr = 10 * math.log10(4 / float(err.pow(2).mean()))
    assert psnr > 28, psnr
    assert abs(_lag(wave, shapes_clip["waveform"])) <= HOP
    assert float((wave - shapes_clip["waveform"]).norm() / shapes_clip["waveform"].norm()) < 0.1  # AAC
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, a.codec_context.name) == ("h264", "aac")
        assert float(v.duration * v.time_base) == pytest.approx(CLIP.duration, abs=1e-3)
        assert float(a.duration * a.time_base) == pytest.approx(CLIP.duration, abs=1e-3)
    assert probe_media(path).duration == pytest.approx(CLIP.duration, abs=1e-3)


def test_frames_are_taken_at_the_target_fps_from_the_start_time(tmp_path):
    levels = np.arange(48) * 5  # source frame i is grey level 5 i, 24 fps, 2 s
    frames = np.repeat(levels.astype(np.uint8)[:, None, None, None], 3, axis=3) * np.ones((1, 16, 16, 3), np.uint8)
    wave = np.zeros(32000, np.float32)
    path = write_av(tmp_path / "ramp.mp4", frames, 24.0, wave, container="mp4", pix_fmt="yuv444p")
    clip = ClipSpec(frames=6, fps=8.0, height=16, width=16)
    video, _ = read_clip(path, clip, start=0.5)  # frames at 0.5, 0.625, ... -> source 12, 15, 18, ...
    got = ((video.mean(dim=(0, 2, 3)) + 1) * 127.5).numpy()  # (T,) grey level
    np.testing.assert_allclose(got, [5 * (12 + 3 * i) for i in range(6)], atol=3)


def test_cover_resize_and_centre_crop(tmp_path):
    frames = np.zeros((8, 32, 64, 3), np.uint8)  # 64 wide, 32 high
    frames[:, :, :16] = (0, 255, 0)  # green bands on the outer quarters
    frames[:, :, 48:] = (0, 255, 0)
    frames[:, :, 16:32] = (255, 0, 0)  # red then blue in the middle half
    frames[:, :, 32:48] = (0, 0, 255)
    path = write_av(tmp_path / "wide.mkv", frames, 8.0, np.zeros(16000, np.float32), container="matroska",
                    pix_fmt="yuv444p")
    video, _ = read_clip(path, ClipSpec(frames=4, fps=8.0, height=16, width=16))  # 64x32 -> 32x16 -> crop 16
    rgb = (video[:, 0] + 1) / 2  # (3, H, W) of frame 0
    assert rgb[1].max() < 0.2  # no green: the outer quarters are cropped away
    assert rgb[0, :, :6].mean() > 0.9 and rgb[2, :, 10:].mean() > 0.9  # red left, blue right


@pytest.mark.parametrize(
    "ext,container,vcodec,acodec,rate",
    [(".mkv", "matroska", "libx264", "aac", 16000), (".webm", "webm", "libvpx-vp9", "libopus", 48000),
     (".avi", "avi", "mpeg4", "pcm_s16le", 22050), (".mov", "mov", "libx264", "aac", 44100)],
)
def test_other_containers_decode_with_aligned_audio(tmp_path, ext, container, vcodec, acodec, rate):
    clip = ClipSpec(frames=8, fps=8.0, height=16, width=16)
    frames = np.zeros((8, 16, 16, 3), np.uint8)
    frames[:, :, :, 0] = (np.arange(8) * 30)[:, None, None]
    t = np.arange(rate) / rate
    wave = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wave[int(0.6 * rate) : int(0.6 * rate) + rate // 200] = 0.9  # a 5 ms click at 0.6 s
    path = write_av(tmp_path / f"clip{ext}", frames, 8.0, wave, rate, container, vcodec, acodec)
    video, audio = read_clip(path, clip)
    assert video.shape == (3, 8, 16, 16) and audio.shape == (clip.num_samples,)
    red = ((video[0].mean(dim=(1, 2)) + 1) * 127.5).numpy()
    np.testing.assert_allclose(red, np.arange(8) * 30, atol=6)
    assert abs(int(audio.abs().argmax()) - round(0.6 * clip.sample_rate)) <= HOP


def test_stereo_is_mixed_to_mono_at_the_target_rate(tmp_path):
    rate = 44100
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    stereo = np.stack([tone, tone]).astype(np.float32)
    frames = np.zeros((8, 16, 16, 3), np.uint8)
    path = write_av(tmp_path / "st.mov", frames, 8.0, stereo, rate, "mov", "libx264", "aac", channels=2)
    _, wave = read_clip(path, ClipSpec(frames=8, fps=8.0, height=16, width=16))
    spectrum = torch.fft.rfft(wave[2000:14000]).abs()
    assert float(spectrum.argmax()) * 16000 / 12000 == pytest.approx(1000, abs=5)
    assert float(wave[2000:14000].abs().max()) == pytest.approx(0.5, abs=0.08)


def test_several_clips_of_one_file_equal_single_reads(tmp_path, shapes_clip):
    video = torch.cat([shapes_clip["video"], shapes_clip["video"].flip(1)], dim=1)  # 32 frames
    wave = torch.cat([shapes_clip["waveform"], shapes_clip["waveform"]])
    path = write_mp4(tmp_path / "long.mp4", video, CLIP.fps, wave, CLIP.sample_rate)
    both = decode_clips(path, CLIP, [0.0, 2.0])
    for start, (v, w) in zip((0.0, 2.0), both):
        v1, w1 = read_clip(path, CLIP, start)
        assert torch.equal(v, v1) and torch.equal(w, w1)


def test_writers_wav_png_and_the_sample_bundle(tmp_path, shapes_clip):
    wave = shapes_clip["waveform"]
    write_wav(tmp_path / "a.wav", wave, 16000)
    data, rate = soundfile.read(tmp_path / "a.wav", dtype="float32")
    assert rate == 16000 and np.abs(data - wave.numpy()).max() < 1e-4
    strip = Image.open(save_frame_strip(tmp_path / "f.png", shapes_clip["video"], padding=2))
    assert strip.size == (16 * (32 + 2) + 2, 32 + 4)
    first = np.asarray(strip)[2:34, 2:34, :3].astype(np.float32) / 255 * 2 - 1  # frame 0 of the strip
    assert np.abs(first - shapes_clip["video"][:, 0].permute(1, 2, 0).numpy()).max() < 0.01
    mel = Image.open(save_mel_image(tmp_path / "m.png", shapes_clip["audio"]))
    assert mel.size == (16 * 33 + 1, 34)
    out = write_clip_outputs(tmp_path / "s", "x", shapes_clip["video"], wave, 8.0, 16000, shapes_clip["audio"])
    assert sorted(out) == ["frames", "mel", "mp4", "wav"] and all(p.is_file() for p in out.values())
    assert not list((tmp_path / "s").glob(".*"))  # no temporary files left


def test_odd_sizes_and_fractional_fps_write_and_read(tmp_path):
    clip = ClipSpec(frames=6, fps=7.5, height=15, width=17)
    video = torch.rand(3, 6, 15, 17) * 2 - 1
    wave = torch.zeros(clip.num_samples)
    path = write_mp4(tmp_path / "odd.mp4", video, clip.fps, wave, clip.sample_rate)
    v, w = read_clip(path, clip)
    assert v.shape == (3, 6, 15, 17) and w.shape == (clip.num_samples,)
    assert probe_media(path).fps == pytest.approx(7.5)


def test_list_media_files_is_recursive_sorted_and_skips_hidden(tmp_path):
    for rel in ("b/x.MP4", "a/y.webm", "a/deep/z.mkv", "notes.txt", ".hidden/h.mp4", "a/.h.mov"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in list_media_files(tmp_path)]
    assert found == ["a/deep/z.mkv", "a/y.webm", "b/x.MP4"]


def test_list_files_splits_media_from_the_rest_in_one_walk(tmp_path):
    from proav_core.data.media_files import list_files, other_files

    for rel in ("b/x.MP4", "a/s.wav", "a/notes.txt", "z.m4a", ".hidden/h.wav", "a/.h.flac"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "gone.mp4").symlink_to(tmp_path / "missing.mp4")  # listed: reading it reports it
    (tmp_path / "folder.mp4").mkdir()  # a folder with a video's name is not a file
    media, others = list_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in media] == ["b/x.MP4", "gone.mp4"]
    assert [p.relative_to(tmp_path).as_posix() for p in others] == ["a/notes.txt", "a/s.wav", "z.m4a"]
    assert other_files(tmp_path) == others and list_media_files(tmp_path) == media
    assert [p.name for p in list_files(tmp_path, recursive=False)[1]] == ["z.m4a"]
