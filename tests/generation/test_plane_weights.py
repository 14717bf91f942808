"""`[train.generator] plane_loss_weights`: a weight per latent plane in the generator's loss."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core.training.generator_loop import flow_model, plane_weight_map

from .helpers import TINY, VIDEO_ONLY

WEIGHTS = {"video_hw": 0.4, "audio_hw": 0.4, "video_th": 2.0}
STACKERS = ["stack6", "stack_packed", "tokens"]


@pytest.mark.parametrize("name", STACKERS)
def test_each_plane_carries_its_weight_and_padding_none(name):
    st = proav_core.build("stacker", name, plane_shapes=TINY)
    weights = plane_weight_map(st, WEIGHTS)  # (*latent)
    assert weights.shape == tuple(st.latent_shape)
    for plane, values in st.unstack(weights[None]).items():
        assert torch.all(values == WEIGHTS.get(plane, 1.0)), plane
    assert torch.all(weights[st.loss_mask() == 0] == 0)  # padding (stack6 pads hw to 8 rows) stays out
    assert torch.equal(plane_weight_map(st, {}), st.loss_mask())  # no weights: the plain mask


def test_a_plane_the_latent_lacks_is_named_with_the_config_key():
    st = proav_core.build("stacker", "stack6", plane_shapes=VIDEO_ONLY)
    with pytest.raises(proav_core.ConfigError, match="audio_hw.*its planes: video_hw, video_tw, video_th") as err:
        plane_weight_map(st, {"audio_hw": 0.5})
    assert err.value.path == "train.generator.plane_loss_weights"


def test_the_config_refuses_unknown_planes_and_non_positive_weights():
    base = {"name": "w", "train": {"generator": {}}}
    ok = proav_core.config_from_dict({**base, "train": {"generator": {"plane_loss_weights": WEIGHTS}}})
    assert ok.train.generator.plane_loss_weights == WEIGHTS
    assert proav_core.config_from_dict(base).train.generator.plane_loss_weights == {}
    with pytest.raises(proav_core.ConfigError, match="unknown plane 'vido_hw'.*closest: video_hw"):
        proav_core.config_from_dict({**base, "train": {"generator": {"plane_loss_weights": {"vido_hw": 1.0}}}})
    with pytest.raises(proav_core.ConfigError, match="positive weight"):
        proav_core.config_from_dict({**base, "train": {"generator": {"plane_loss_weights": {"audio_tw": 0}}}})


CONFIG = {
    "name": "weights",
    "model": {"stacker": "stack6", "conditioner": {"name": "class_label", "dim": 16},
              "generator": {"name": "stdit", "preset": "tiny", "depth": 1, "hidden": 32}},
    "objective": {"name": "reflected_flow", "cond_dropout": 0.0},
}


def test_the_flow_model_weights_its_loss_mask_and_multitask_items_still_drop_given_planes():
    cfg = proav_core.config_from_dict(CONFIG)
    parts = proav_core.build_generation(cfg, TINY, 2.0, ["dog", "drum"])
    plain = flow_model(parts, None).loss_mask
    weighted = flow_model(parts, None, WEIGHTS).loss_mask
    assert torch.equal(weighted, plain * plane_weight_map(parts.stacker, WEIGHTS))
    multi = flow_model(parts, {"a2v": 1.0}, WEIGHTS)  # every item a2v: audio given
    given, mask, _ = multi.tasks.split(torch.zeros(2, *parts.stacker.latent_shape), multi.loss_mask)
    video = parts.stacker.unstack(mask[:1])
    assert torch.all(video["video_th"] == 2.0) and torch.all(video["video_hw"] == 0.4)
    assert all(torch.all(v == 0) for k, v in video.items() if k.startswith("audio"))  # given: not scored
    loss = multi(torch.rand(2, *parts.stacker.latent_shape) * 2 - 1, torch.tensor([0, 1]))
    assert loss.ndim == 0 and torch.isfinite(loss)
