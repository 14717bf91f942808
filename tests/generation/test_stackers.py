"""stack6, stack_packed and tokens: exact round trips, padding mask, layout, errors."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core.errors import ConfigError
from proav_core.interfaces import PLANE_NAMES, Stacker

from .helpers import PAPER, TINY, VIDEO_ONLY, random_planes


@pytest.mark.parametrize("name", ["stack6", "stack_packed", "tokens"])
@pytest.mark.parametrize("shapes", [PAPER, TINY, VIDEO_ONLY], ids=["paper", "tiny", "video_only"])
def test_round_trip_is_exact(name, shapes):
    stacker = proav_core.build("stacker", name, plane_shapes=shapes)
    assert isinstance(stacker, Stacker)
    planes = random_planes(shapes, batch=3)
    latent = stacker.stack(planes)
    assert latent.shape == (3, *stacker.latent_shape)
    back = stacker.unstack(latent)
    assert set(back) == set(shapes)
    for k in shapes:
        assert torch.equal(back[k], planes[k]), k
    assert torch.equal(stacker.stack(back), latent)  # and the other way round


def test_stack6_paper_shape_order_and_padding():
    stacker = proav_core.build("stacker", "stack6", plane_shapes=PAPER)
    assert stacker.latent_shape == (4, 6, 32, 32)  # 16-row planes padded to 32
    planes = random_planes(PAPER)
    latent = stacker.stack(planes)
    for i, name in enumerate(PLANE_NAMES):  # frames in the canonical order of Eq. 9
        c, a, b = PAPER[name]
        assert torch.equal(latent[:, :, i, :a, :b], planes[name])
    assert torch.count_nonzero(latent[:, :, 1, 16:]) == 0  # tw padding rows are zero
    mask = stacker.loss_mask()
    assert mask.shape == stacker.latent_shape
    assert mask[:, 0].all() and mask[:, 3].all()  # hw planes fill their frame
    assert mask[:, 1, :16].all() and not mask[:, 1, 16:].any()
    assert float(mask.sum()) == 4 * (32 * 32 + 16 * 32 + 16 * 32) * 2  # the paper's 8192 per modality


def test_stack_packed_paper_four_full_frames():
    stacker = proav_core.build("stacker", "stack_packed", plane_shapes=PAPER)
    assert stacker.latent_shape == (4, 4, 32, 32)  # video hw, video tw|th, audio hw, audio tw|th
    assert torch.equal(stacker.loss_mask(), torch.ones(4, 4, 32, 32))  # no padding at all
    planes = random_planes(PAPER)
    latent = stacker.stack(planes)
    for m, base in (("video", 0), ("audio", 2)):
        assert torch.equal(latent[:, :, base], planes[f"{m}_hw"])
        assert torch.equal(latent[:, :, base + 1, :16], planes[f"{m}_tw"])  # tw on top
        assert torch.equal(latent[:, :, base + 1, 16:], planes[f"{m}_th"])  # th below
    # every latent value comes from exactly one plane value
    assert latent.numel() == sum(v.numel() for v in planes.values())


def test_stack_packed_side_by_side_partial_fit_and_no_fit():
    side = {"video_hw": (2, 8, 8), "video_tw": (2, 8, 4), "video_th": (2, 6, 4)}  # fit beside each other
    st = proav_core.build("stacker", "stack_packed", plane_shapes=side)
    assert st.latent_shape == (2, 2, 8, 8)
    planes = random_planes(side)
    latent = st.stack(planes)
    assert torch.equal(latent[:, :, 1, :, :4], planes["video_tw"])
    assert torch.equal(latent[:, :, 1, :6, 4:], planes["video_th"])
    mask = st.loss_mask()
    assert float(mask.sum()) == 2 * (64 + 32 + 24) and not mask[:, 1, 6:, 4:].any()
    assert torch.count_nonzero(latent * (1 - mask)) == 0
    # tiny planes: tw and th (8x4 each) do not fit together in an 8x4 frame -> a frame each, as stack6
    tiny = proav_core.build("stacker", "stack_packed", plane_shapes=TINY)
    six = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    assert tiny.latent_shape == six.latent_shape
    assert torch.equal(tiny.stack(random_planes(TINY)), six.stack(random_planes(TINY)))
    assert torch.equal(tiny.loss_mask(), six.loss_mask())


def test_stack6_three_planes_and_unequal_sides():
    stacker = proav_core.build("stacker", "stack6", plane_shapes=VIDEO_ONLY)
    assert stacker.latent_shape == (2, 3, 8, 6)  # max rows 8, max cols 6
    mask = stacker.loss_mask()
    assert float(mask.sum()) == 2 * (6 * 4 + 8 * 4 + 8 * 6)


def test_stack6_unstack_ignores_padding_values():
    stacker = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    latent = stacker.stack(random_planes(TINY))
    noisy = latent + torch.randn_like(latent) * (1 - stacker.loss_mask())
    assert not torch.equal(noisy, latent)
    for k, v in stacker.unstack(noisy).items():
        assert torch.equal(v, stacker.unstack(latent)[k])


def test_tokens_layout():
    stacker = proav_core.build("stacker", "tokens", plane_shapes=VIDEO_ONLY)
    assert stacker.latent_shape == (2, 6 * 4 + 8 * 4 + 8 * 6)
    assert torch.equal(stacker.loss_mask(), torch.ones(stacker.latent_shape))
    ids, pos = stacker.plane_ids(), stacker.positions()
    assert ids.tolist() == [0] * 24 + [1] * 32 + [2] * 48
    planes = random_planes(VIDEO_ONLY)
    latent = stacker.stack(planes)
    # token 24 + 3*4 + 2 is video_tw row 3 col 2
    assert pos[24 + 3 * 4 + 2].tolist() == [3, 2]
    assert torch.equal(latent[:, :, 24 + 3 * 4 + 2], planes["video_tw"][:, :, 3, 2])
    audio = proav_core.build("stacker", "tokens", plane_shapes={"audio_tw": (2, 2, 2)})
    assert audio.plane_ids().tolist() == [4] * 4  # type ids are canonical, not positional


@pytest.mark.parametrize("name", ["stack6", "stack_packed", "tokens"])
def test_bad_plane_shapes_are_config_errors(name):
    with pytest.raises(ConfigError, match="planes must be named from video_hw"):
        proav_core.build("stacker", name, plane_shapes={"video_xy": (4, 2, 2)})
    with pytest.raises(ConfigError, match="one channel count"):
        proav_core.build("stacker", name, plane_shapes={"video_hw": (4, 2, 2), "video_tw": (3, 2, 2)})


@pytest.mark.parametrize("name", ["stack6", "stack_packed", "tokens"])
def test_stack_rejects_wrong_planes(name):
    stacker = proav_core.build("stacker", name, plane_shapes=TINY)
    planes = random_planes(TINY)
    with pytest.raises(ValueError, match="expects planes"):
        stacker.stack({k: v for k, v in planes.items() if k != "audio_th"})
    planes["video_hw"] = planes["video_hw"][:, :, :3]
    with pytest.raises(ValueError, match="video_hw"):
        stacker.stack(planes)
