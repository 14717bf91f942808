"""proav_plugins.data.syncshapes_texture (benchmarks/bench_mel_texture.py): the content-only floor
of syncshapes mel images and the split of an autoencoder's error into captured noise and content
error."""

from __future__ import annotations

import math

import pytest
import torch

import proav_core
from proav_core.data.timing import clip_sample_bounds
from proav_core.metrics.psnr import psnr
from proav_plugins.data.syncshapes_sound import class_voice, soundtrack
from proav_plugins.data.syncshapes_texture import HALF_MSE_DB, applies_to, texture_floor, variance_shares

CLIP = {"frames": 4, "fps": 4.0, "height": 16, "width": 16, "sample_rate": 8000}


def tiny(ambient_level: float) -> proav_core.ExperimentConfig:
    return proav_core.config_from_dict({
        "name": "tiny", "clip": CLIP, "audio_repr": {"name": "mel_frames", "n_mels": 32},
        "dataset": {"name": "syncshapes", "num_classes": 2, "test_size": 4, "ambient_level": ambient_level}})


def test_other_ambience_draws_keep_the_hits():
    clip = proav_core.ClipSpec(**CLIP)
    onsets = [clip_sample_bounds(clip)[1]]
    quiet = [soundtrack(class_voice(0), onsets, clip.num_samples, clip.sample_rate, 0.6, 0.0,
                        torch.Generator().manual_seed(3), ambience_gen=torch.Generator().manual_seed(s)) for s in (1, 2)]
    assert torch.equal(quiet[0], quiet[1]) and quiet[0].abs().max() > 0.3  # no ambience: the same hits
    noisy = [soundtrack(class_voice(0), onsets, clip.num_samples, clip.sample_rate, 0.6, 0.02,
                        torch.Generator().manual_seed(3), ambience_gen=torch.Generator().manual_seed(s)) for s in (1, 2)]
    assert not torch.equal(noisy[0], noisy[1])


def test_the_floor_is_the_draws_psnr_plus_3_db_and_louder_ambience_lowers_it():
    per_class, level = texture_floor(tiny(0.02), clips=4, draws=2)
    assert level == 0.02 and set(per_class) == {"circle-drum-0", "square-wood-1", "all"}
    assert per_class["all"]["clips"] == 4
    for row in per_class.values():
        assert row["floor_psnr"] == pytest.approx(row["draws_psnr"] + HALF_MSE_DB, abs=0.011)
        assert 10 < row["draws_psnr"] < 60
    # log-mel: the noise's texture is about as rough at any level above the db_min clamp
    quieter, _ = texture_floor(tiny(0.005), clips=4, draws=2)
    louder, _ = texture_floor(tiny(0.2), clips=4, draws=2)
    assert quieter["all"]["floor_psnr"] > per_class["all"]["floor_psnr"] > louder["all"]["floor_psnr"]
    assert quieter["all"]["floor_psnr"] - louder["all"]["floor_psnr"] < 3
    silent, _ = texture_floor(tiny(0.0), clips=2, draws=2)
    assert math.isinf(silent["all"]["draws_psnr"])  # nothing random but the clicks, drawn alike


def test_variance_shares_recover_a_known_split():
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(1, 200_000, generator=g) * 2 - 1
    noise_a, noise_b = (torch.randn(1, 200_000, generator=g) * 0.05 for _ in range(2))
    content = torch.randn(1, 200_000, generator=g) * 0.05 * math.sqrt(0.1)  # |c|^2 = 0.1 Var
    kept = torch.arange(200_000) % 5 == 0
    rec = mean + content + noise_a * kept  # a projection of A's noise (a fifth of it): |n|^2 = 0.2 Var
    own, other = float(psnr(rec, mean + noise_a)[0]), float(psnr(rec, mean + noise_b)[0])
    floor = float(psnr(mean + noise_b, mean + noise_a)[0]) + HALF_MSE_DB
    noise, error = variance_shares(own, other, floor)
    assert noise == pytest.approx(0.20, abs=0.01) and error == pytest.approx(0.10, abs=0.01)


def test_only_syncshapes_with_an_audio_repr_is_measured():
    assert applies_to(tiny(0.02))
    silent = proav_core.config_from_dict({"name": "no_audio", "clip": CLIP, "dataset": {"name": "syncshapes"}})
    assert not applies_to(silent)
    with pytest.raises(ValueError, match=r"no_audio: \[dataset\] must be syncshapes, with an \[audio_repr\]"):
        texture_floor(silent)
