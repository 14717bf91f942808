"""The class probe that prompts a2v / v2a samples (proav_core.training.class_probe)."""

from __future__ import annotations

import pytest
import torch

from proav_core.errors import UsageError
from proav_core.training.class_probe import ClassProbe, fit_class_probes, probes_from_dict, probes_to_dict
from proav_core.training.task_mix import plane_stats

NAMES = ["video_hw", "video_tw", "audio_hw"]


def planes_of(labels: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """Class k: the video planes' channel k raised by 1.5 (over noise of std 1); audio: noise only
    but for channel (k + 1) % 3 of its plane, raised by 1.5."""
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    out = {name: torch.randn(n, 3, 4, 5, generator=g) for name in NAMES}
    rows = torch.arange(n)
    out["video_hw"][rows, labels] += 1.5
    out["video_tw"][rows, labels] += 1.5
    out["audio_hw"][rows, (labels + 1) % 3] += 1.5
    return out


def test_a_probe_reads_the_class_of_held_out_items_from_plane_statistics():
    labels = torch.arange(60) % 3
    probes = fit_class_probes(planes_of(labels, 0), labels, 3)
    assert set(probes) == {"video", "audio"}
    assert probes["video"].planes == ["video_hw", "video_tw"] and probes["audio"].planes == ["audio_hw"]
    held_out = torch.tensor([2, 0, 1, 1, 0, 2, 2, 1, 0])
    planes = planes_of(held_out, 1)
    for probe in probes.values():
        assert probe.scores(planes).shape == (9, 3)
        assert torch.equal(probe.predict(planes), held_out)


def test_the_probe_is_a_ridge_regression_on_standardised_stats():
    """Known answer: the closed form against torch.linalg.lstsq on the augmented system."""
    labels = torch.arange(24) % 2
    planes = planes_of(labels, 3)
    probe = ClassProbe.fit(planes, labels, 2, ["video_hw"], ridge=0.5)
    x = plane_stats(planes["video_hw"]).double()  # (N, 12)
    z = (x - x.mean(0)) / x.std(0, unbiased=False)
    a = torch.cat([z, torch.ones(24, 1, dtype=x.dtype)], 1)  # (N, 13)
    shrink = torch.diag(torch.tensor([0.5 ** 0.5] * 12 + [0.0], dtype=x.dtype))  # the bias is not shrunk
    y = torch.nn.functional.one_hot(labels, 2).double()
    expect = torch.linalg.lstsq(torch.cat([a, shrink]), torch.cat([y, torch.zeros(13, 2, dtype=x.dtype)])).solution
    torch.testing.assert_close(probe.weight.double(), expect, rtol=1e-4, atol=1e-5)


def test_a_probe_survives_its_checkpoint_form():
    labels = torch.arange(30) % 3
    probes = fit_class_probes(planes_of(labels, 0), labels, 3)
    again = probes_from_dict(probes_to_dict(probes))
    planes = planes_of(labels, 5)
    for m, probe in probes.items():
        assert again[m].planes == probe.planes
        torch.testing.assert_close(again[m].scores(planes), probe.scores(planes))
    assert probes_from_dict(None) == {}


def test_no_probe_without_two_classes():
    planes = planes_of(torch.zeros(10, dtype=torch.long), 0)
    assert fit_class_probes(planes, torch.zeros(10, dtype=torch.long), 3) == {}  # one class present
    assert fit_class_probes(planes, torch.zeros(10, dtype=torch.long), 1) == {}  # one class known


def test_unlabelled_items_are_left_out_of_the_fit():
    labels = torch.arange(30) % 3
    planes = planes_of(labels, 0)
    marked = labels.clone()
    marked[::5] = -1  # six items without a label
    keep = marked >= 0
    fitted = fit_class_probes(planes, marked, 3)["video"]
    expect = ClassProbe.fit({k: v[keep] for k, v in planes.items()}, labels[keep], 3, ["video_hw", "video_tw"])
    torch.testing.assert_close(fitted.weight, expect.weight)


def test_a_missing_plane_is_named():
    labels = torch.arange(12) % 2
    probe = ClassProbe.fit(planes_of(labels, 0), labels, 2, ["video_hw", "video_tw"])
    with pytest.raises(UsageError, match="reads planes video_hw, video_tw; missing: video_tw"):
        probe.predict({"video_hw": torch.zeros(2, 3, 4, 5)})
