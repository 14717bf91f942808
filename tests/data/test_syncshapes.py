"""syncshapes: the ClipSample contract, determinism, and sync (onsets and motion peaks on the events)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

import proav_core
from proav_core import ClipSpec, ParameterError
from proav_core.data.timing import clip_sample_bounds
from proav_plugins.data.syncshapes_motion import fly, sample_events
from proav_plugins.data.syncshapes_sound import ambience, class_voice, hit

CLIP16 = ClipSpec(frames=16, fps=8.0, height=32, width=32)


def _data(clip: ClipSpec, split: str = "train", **params):
    return proav_core.build("dataset", "syncshapes", clip=clip, split=split, **params)


def _motion(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) -> (T,) mean absolute change into frame i (entry 0 repeats entry 1)."""
    d = (video[:, 1:] - video[:, :-1]).abs().mean(dim=(0, 2, 3)).numpy()
    return np.concatenate([d[:1], d])


def _strict_peaks(m: np.ndarray) -> list[int]:
    return [i for i in range(1, len(m) - 1) if m[i - 1] < m[i] > m[i + 1]]


def test_item_follows_the_clip_sample_contract(tiny_clip):
    ds = _data(tiny_clip, train_size=6, num_classes=3)
    item = ds[4]
    t, h, w = tiny_clip.frames, tiny_clip.height, tiny_clip.width
    assert item["video"].shape == (3, t, h, w) and item["video"].dtype == torch.float32
    assert item["audio"].shape == (t, h, w) and item["waveform"].shape == (tiny_clip.num_samples,)
    for key in ("video", "audio", "waveform"):
        assert item[key].min() >= -1 and item[key].max() <= 1, key
    assert item["events"].shape == (t,) and item["events"].dtype == torch.bool
    assert item["label"] == 4 % 3 and ds.classes[item["label"]] == "square-wood-1"
    assert item["start"] == 0.0 and item["end"] == pytest.approx(tiny_clip.duration)
    assert item["path"] == "syncshapes:seed=0/train/4"
    torch.testing.assert_close(item["audio"], ds.audio_repr.encode(item["waveform"][None])[0])
    batch = default_collate([ds[0], ds[1]])
    assert batch["video"].shape == (2, 3, t, h, w) and batch["events"].shape == (2, t)
    assert len(ds) == 6 and len(_data(tiny_clip, "all", train_size=6, test_size=2)) == 8


def test_deterministic_from_seed_and_index(tiny_clip):
    ds = _data(tiny_clip, train_size=5)
    first = ds[3]
    torch.manual_seed(123)
    _ = [ds[i] for i in (4, 0, 2)]
    again = _data(tiny_clip, train_size=5)[3]
    for key in ("video", "waveform", "events"):
        assert torch.equal(first[key], again[key]), key
    other_seed = _data(tiny_clip, train_size=5, seed=1)[3]
    assert not torch.equal(first["video"], other_seed["video"])
    test_item = _data(tiny_clip, "test", test_size=5)[3]
    assert not torch.equal(first["waveform"], test_item["waveform"])
    all_split = _data(tiny_clip, "all", train_size=5, test_size=5)
    assert torch.equal(all_split[5 + 3]["waveform"], test_item["waveform"])


@pytest.mark.parametrize("clip", [CLIP16, ClipSpec(frames=12, fps=10.0, height=24, width=40, sample_rate=22050)])
def test_hits_start_exactly_on_event_frames(clip):
    ds = _data(clip, num_classes=4, max_events=3)
    seen = 0
    for i in range(8):
        video, wave, events, label = ds.generate("train", i)
        bounds = clip_sample_bounds(clip)
        for k in np.nonzero(events.numpy())[0]:
            assert 2 <= k <= clip.frames - 2
            before = wave[bounds[k] - 64 : bounds[k]].abs().max()
            after = wave[bounds[k] : bounds[k] + 64].abs().max()
            assert after > 4 * before, (i, k)
            seen += 1
    assert seen >= 8


def test_trajectory_speed_peaks_exactly_at_the_impacts():
    """Summed per-frame displacement of the shapes: strict local maxima == impact frames."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        frames = int(rng.integers(5, 25))
        impacts = sample_events(rng, frames, int(rng.integers(0, 4)), int(rng.integers(3, 6)))
        speed = np.zeros(frames)
        for _ in range(int(rng.integers(1, 4))):
            radius = float(rng.uniform(2, 6))
            f = fly(rng, impacts, frames, 60.0, radius, 64, max_step=0.8 * radius)
            step = torch.sqrt(torch.diff(f.x) ** 2 + torch.diff(f.y) ** 2).numpy()  # (T-1,)
            speed += np.concatenate([step[:1], step])
            assert f.y.max() <= 60.0 - radius + 1e-4 and f.y.min() >= radius - 1e-4  # on the floor, in frame
        assert _strict_peaks(speed) == impacts, (trial, impacts, speed.round(2))


@pytest.mark.parametrize("shapes", [1, 2])
def test_rendered_motion_peaks_exactly_at_the_events(shapes):
    clip = ClipSpec(frames=16, fps=10.0, height=64, width=64)
    ds = _data(clip, shapes_per_clip=shapes, max_events=3)
    for i in range(8):
        video, _, events, _ = ds.generate("train", i)
        assert _strict_peaks(_motion(video)) == np.nonzero(events.numpy())[0].tolist(), i


def test_librosa_onsets_fall_on_the_recorded_frames():
    import librosa  # the eval extra, which make test installs

    ds = _data(CLIP16)
    for i in range(8):
        _, wave, events, _ = ds.generate("train", i)
        y = librosa.resample(wave.numpy(), orig_sr=16000, target_sr=22050)
        onsets = librosa.onset.onset_detect(y=y, sr=22050, units="time")
        # the analysis frames that overlap the clip's start see the step from zero padding to
        # the ambience; that is librosa's boundary, not a sound event
        onsets = onsets[onsets > 0.1]
        truth = np.nonzero(events.numpy())[0] / CLIP16.fps
        assert len(onsets) == len(truth), (i, onsets, truth)
        assert np.abs(onsets - truth).max() < 0.5 / CLIP16.fps


def test_av_align_real_pairs_beat_shuffled_pairs():
    """AV-Align (appendix 5.5: librosa onsets vs Farneback flow peaks, +-3 frames) on 12 clips."""
    import cv2  # the eval extra, which make test installs
    import librosa

    ds, fps = _data(CLIP16), CLIP16.fps
    audio_peaks, video_peaks = [], []
    for i in range(12):
        video, wave, _, _ = ds.generate("train", i)
        gray = ((video.mean(0) + 1) * 127.5).round().to(torch.uint8).numpy()  # (T, H, W)
        flow = [np.linalg.norm(cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0), axis=-1).mean()
                for a, b in zip(gray[:-1], gray[1:])]
        m = np.asarray([flow[0], *flow])
        video_peaks.append(np.asarray(_strict_peaks(m)) / fps)
        y = librosa.resample(wave.numpy(), orig_sr=16000, target_sr=22050)
        audio_peaks.append(librosa.onset.onset_detect(y=y, sr=22050, units="time"))

    def align(a, v):
        hit = lambda src, dst: np.mean([np.any(np.abs(dst - s) <= 3 / fps + 1e-9) for s in src])  # noqa: E731
        return 0.5 * (hit(a, v) + hit(v, a))

    real = np.mean([align(audio_peaks[i], video_peaks[i]) for i in range(12)])
    shuffled = np.mean([align(audio_peaks[i], video_peaks[(i + 5) % 12]) for i in range(12)])
    assert real > 0.85 and shuffled < real - 0.25, (real, shuffled)


def test_classes_sound_different():
    spectra = []
    for c in range(4):
        voice = class_voice(c)
        g = torch.Generator().manual_seed(0)
        s = torch.fft.rfft(hit(voice, 8000, 16000, g)).abs()
        spectra.append(s / s.norm())
        amb = torch.fft.rfft(ambience(voice, 16000, 16000, 0.02, g)).abs()
        peak_hz = float(amb.argmax())  # 1 Hz bins for one second
        assert abs(np.log2(peak_hz / voice.ambience_hz)) < 0.5
    for a in range(4):
        for b in range(a + 1, 4):
            assert float(spectra[a] @ spectra[b]) < 0.8, (a, b)


def test_any_size_and_clips_too_short_for_events():
    ds = _data(ClipSpec(frames=3, fps=4.0, height=8, width=12, sample_rate=8000), num_classes=7, shapes_per_clip=3)
    item = ds[6]
    assert item["video"].shape == (3, 3, 8, 12) and not item["events"].any()
    assert len(ds.classes) == 7 and len(set(ds.classes)) == 7


def test_bad_parameters_name_the_key(tiny_clip):
    with pytest.raises(ParameterError, match="min_events"):
        _data(tiny_clip, min_events=3, max_events=1)
    with pytest.raises(ParameterError, match="min_gap"):
        _data(tiny_clip, min_gap=1)


def test_class_index_reads_a_class_name_or_prompt_in_any_dataset_order():
    from proav_plugins.data.syncshapes import class_index, class_names

    names = class_names(6)
    assert [class_index(n) for n in sorted(names)] == [names.index(n) for n in sorted(names)]
    assert class_index("a video of " + names[3]) == 3
    for other in ("dog", "", "circle-drum-x", "square-drum-0", "circle-wood-0"):
        assert class_index(other) is None, other
