"""The psnr metric plugin: pairs real and generated clips in arrival order."""

from __future__ import annotations

import math

import pytest
import torch

import proav_core


def test_pairs_in_order_across_uneven_batches():
    metric = proav_core.build("metric", "psnr", signal="audio")
    real = torch.rand(3, 4, 8, 8) * 2 - 1
    fake = real + torch.tensor([0.1, 0.2, 0.1])[:, None, None, None]  # mse 0.01, 0.04, 0.01
    metric.update({"audio": real}, "real")
    metric.update({"audio": fake[:2]}, "fake")
    metric.update({"audio": fake[2:]}, "fake")
    result = metric.compute()
    expected = [10 * math.log10(4 / 0.01), 10 * math.log10(4 / 0.04), 10 * math.log10(4 / 0.01)]
    assert result.name == "psnr_audio" and result.value == pytest.approx(sum(expected) / 3, rel=1e-5)
    assert result.details == {"pairs": 3, "identical_pairs": 0, "unpaired": 0}


def test_identical_pairs_are_counted_not_averaged_as_infinity():
    metric = proav_core.build("metric", "psnr")
    video = torch.zeros(2, 3, 2, 4, 4)
    noisy = video.clone()
    noisy[1] += 0.2
    metric.update({"video": video}, "real")
    metric.update({"video": noisy}, "fake")
    result = metric.compute()
    assert result.value == pytest.approx(10 * math.log10(4 / 0.04), rel=1e-5)
    assert result.details["identical_pairs"] == 1


def test_unpaired_and_mismatched():
    metric = proav_core.build("metric", "psnr", signal="waveform")
    metric.update({"waveform": torch.zeros(2, 100)}, "real")
    result = metric.compute()
    assert result.value is None and "paired" in result.reason
    with pytest.raises(ValueError, match="pair 0 has shapes"):
        metric.update({"waveform": torch.zeros(1, 50)}, "fake")


def test_clips_left_without_a_pair_are_warned_about():
    from proav_core.errors import ProavWarning

    metric = proav_core.build("metric", "psnr", signal="waveform")
    metric.update({"waveform": torch.zeros(5, 100)}, "real")
    metric.update({"waveform": torch.full((2, 100), 0.1)}, "fake")
    with pytest.warns(ProavWarning, match="psnr_waveform: 5 real against 2 generated clips, 3 left without a pair"):
        result = metric.compute()
    assert result.details["pairs"] == 2 and result.details["unpaired"] == 3
    assert result.value == pytest.approx(10 * math.log10(4 / 0.01))  # range 2, MSE 0.01
