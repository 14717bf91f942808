"""hist_sypo (JavisDiT's HiST-Sypo prior estimator, kind `prior`): the Gaussian it samples, the
asynchronous pairs it contrasts against, and contrastive training on a toy whose sync is known."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core.errors import ConfigError
from proav_core.interfaces import PriorEstimator

from .helpers import TINY, random_planes


def build(**params):
    st = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    params = {"width": 32, "depth": 1, "num_spatial": 4, "num_temporal": 4, "prior_dim": 16, **params}
    return st, proav_core.build("prior", "hist_sypo", cond_dim=8, stacker=st, **params)


def test_samples_follow_the_predicted_gaussian():
    torch.manual_seed(0)
    _, prior = build()
    assert isinstance(prior, PriorEstimator)
    with torch.no_grad():
        prior.gaussian.bias[16:] = -1.0  # log variance -1 + a little: std about exp(-0.5)
        cond = torch.randn(1, 2, 8).expand(2000, -1, -1)
        mean, logvar = prior.distribution(cond)
        draws = prior.sample(cond, generator=torch.Generator().manual_seed(1))
    assert mean.shape == logvar.shape == draws.shape == (2000, 8, 16)
    assert torch.allclose(draws.mean(0), mean[0], atol=0.06)
    assert torch.allclose(draws.std(0), (0.5 * logvar[0]).exp(), rtol=0.08)
    # the same function as the distribution's mean; a batch of 2 and one of 2000 may round differently
    torch.testing.assert_close(prior.mean(cond[:2]), mean[:2], atol=1e-6, rtol=1e-6)


def test_asynchronous_pairs_shift_the_audio_in_time_and_swap_it_between_clips():
    st, prior = build()
    planes = random_planes(TINY, batch=3)
    negatives = prior.asynchronous_pairs(st.stack(planes), torch.Generator().manual_seed(0))
    assert negatives.shape == (3, 2, *st.latent_shape)
    shifted, swapped = st.unstack(negatives[:, 0]), st.unstack(negatives[:, 1])
    for name in ("video_hw", "video_tw", "video_th", "audio_hw"):
        assert torch.equal(shifted[name], planes[name])
    steps = [k for k in range(1, 8) if torch.equal(shifted["audio_tw"], planes["audio_tw"].roll(k, dims=2))]
    assert len(steps) == 1 and torch.equal(shifted["audio_th"], planes["audio_th"].roll(steps[0], dims=2))
    for name in ("video_hw", "video_tw", "video_th"):
        assert torch.equal(swapped[name], planes[name])
    for name in ("audio_hw", "audio_tw", "audio_th"):
        assert torch.equal(swapped[name], planes[name].roll(1, dims=0))  # clip i gets clip i+1's audio


def toy_pairs(st, classes, n, seed):
    """Clips whose video and audio tw/th planes light up at the same random time step, the hw
    planes carrying the class; condition = the class's tokens."""
    g = torch.Generator().manual_seed(seed)
    labels, onset = torch.randint(0, 2, (n,), generator=g), torch.randint(0, 8, (n,), generator=g)
    planes = {k: 0.1 * torch.randn(n, *s, generator=g) for k, s in TINY.items()}
    for name in ("video_tw", "video_th", "audio_tw", "audio_th"):
        planes[name][torch.arange(n), :, onset] += 1.0
    for name in ("video_hw", "audio_hw"):
        planes[name] += (2.0 * labels - 1.0)[:, None, None, None]
    return st.stack(planes), classes[labels]


def test_contrastive_training_puts_synchronous_pairs_nearer_their_prior_than_asynchronous_ones():
    torch.manual_seed(0)
    st, prior = build()
    classes = torch.randn(2, 1, 8)
    held_out, cond = toy_pairs(st, classes, 64, seed=99)
    negatives = prior.asynchronous_pairs(held_out, torch.Generator().manual_seed(5))
    opt = torch.optim.AdamW(prior.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for step in range(40):
        x, c = toy_pairs(st, classes, 16, seed=step)
        loss = prior.loss(x, c, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        sync = prior.sync_distance(held_out, cond).mean()
        shifted = prior.sync_distance(negatives[:, 0], cond).mean()
        swapped = prior.sync_distance(negatives[:, 1], cond).mean()
    assert sync + 0.3 < shifted and sync + 0.3 < swapped, (sync, shifted, swapped)


def test_needs_the_tokens_stacker():
    stack6 = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="needs the 'tokens' stacker"):
        proav_core.build("prior", "hist_sypo", cond_dim=8, stacker=stack6)
