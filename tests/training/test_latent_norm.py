"""Per-channel latent normalisation: statistics against a known answer, exact round trip,
the normalised box holds every latent of the autoencoder's box, and the trained pipeline
stores the statistics and undoes them before decoding."""

from __future__ import annotations

import json

import pytest
import torch

from proav_core.training.latent_norm import MIN_STD, LatentNormalizer


def planes(seed: int = 0, n: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"video_hw": torch.randn(n, 2, 3, 4, generator=g) * torch.tensor([0.5, 2.0]).view(1, 2, 1, 1)
            + torch.tensor([1.0, -3.0]).view(1, 2, 1, 1),
            "audio_tw": torch.rand(n, 2, 4, 3, generator=g)}


def test_fit_matches_the_statistics_of_all_batches_together():
    a, b = planes(0), planes(1, n=3)
    norm = LatentNormalizer.fit([a, b])
    for name in a:
        both = torch.cat([a[name], b[name]]).double().transpose(0, 1).flatten(1)  # (C, N*a*b)
        assert norm.mean[name] == pytest.approx(both.mean(1).tolist(), abs=1e-9)
        assert norm.std[name] == pytest.approx(both.std(1, unbiased=False).tolist(), abs=1e-9)


def test_normalised_latents_have_zero_mean_unit_std_and_round_trip():
    z = planes(0, n=50)
    norm = LatentNormalizer.fit([z])
    n = norm.normalize(z)
    for name, x in n.items():
        flat = x.transpose(0, 1).flatten(1)
        torch.testing.assert_close(flat.mean(1), torch.zeros(2), atol=1e-5, rtol=0)
        torch.testing.assert_close(flat.std(1, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)
        torch.testing.assert_close(norm.denormalize({name: x})[name], z[name], atol=1e-5, rtol=0)


def test_the_normalised_box_holds_the_autoencoders_box():
    z = planes(0)
    norm = LatentNormalizer.fit([z])
    b = 3.0
    bound = norm.bound(b)
    corners = {k: torch.stack([torch.full_like(v[0], -b), torch.full_like(v[0], b)]) for k, v in z.items()}
    for x in norm.normalize(corners).values():
        assert float(x.abs().max()) <= bound + 1e-5
    assert norm.bound(None) is None
    # the tightest channel reaches the wall exactly: (b + |mean|) / std of video_hw channel 0
    assert bound == pytest.approx(max((b + abs(m)) / s for k in norm.mean for m, s in zip(norm.mean[k], norm.std[k])))


def test_constant_channels_keep_a_floor_std_and_identity_changes_nothing():
    z = {"video_hw": torch.ones(4, 1, 2, 2)}
    norm = LatentNormalizer.fit([z])
    assert norm.std["video_hw"] == [MIN_STD]
    ident = LatentNormalizer.identity({"video_hw": (1, 2, 2)})
    assert torch.equal(ident.normalize(z)["video_hw"], z["video_hw"])
    assert LatentNormalizer.from_dict(json.loads(json.dumps(norm.to_dict()))) == norm
    with pytest.raises(KeyError, match="video_hw"):
        norm.normalize({"audio_th": torch.zeros(1, 1, 2, 2)})
    with pytest.raises(ValueError, match="at least one batch"):
        LatentNormalizer.fit([])
