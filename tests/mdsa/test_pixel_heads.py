"""Contracts of the pixel stems and heads (kinds `pixel_stem`, `pixel_head`; proav_core.testing),
parametrised over the live registry, plus what tells the built-ins apart: the linear patch head cannot draw
across patch borders, the convolutional one can; the encoder and decoder take either by name."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core import ClipSpec, build_component
from proav_core.testing import check_component

from .helpers import TINY_MDSA, tiny_mdsa


def names(kind):
    return [s.name for s in proav_core.list_components(kind)]


def test_both_built_ins_are_registered():
    assert {"patch_linear", "conv"} <= set(names("pixel_stem"))
    assert {"patch_linear", "conv"} <= set(names("pixel_head"))


PARTS = [("pixel_stem", n) for n in names("pixel_stem")] + [("pixel_head", n) for n in names("pixel_head")]


@pytest.mark.parametrize(("kind", "name"), PARTS, ids=[f"{k}:{n}" for k, n in PARTS])
def test_pixel_part_contract(kind, name):
    """proav_core.testing: shapes for patch 2 and 4, gradients everywhere, frames handled one
    by one, a clip's tokens independent of its batch."""
    check_component(kind, name)


def test_linear_head_draws_nothing_across_a_patch_border_and_the_conv_head_does():
    """One token changed: the linear head changes only that token's p x p pixels."""
    p = 4
    token = torch.zeros(1, 8, 1, 2, 2)
    bumped = token.clone()
    bumped[0, :, 0, 0, 0] = 1.0  # the top-left token
    linear = build_component({"name": "patch_linear"}, "pixel_head", dim=8, out_channels=1, patch=p)
    conv = build_component({"name": "conv"}, "pixel_head", dim=8, out_channels=1, patch=p)
    for head, crosses in ((linear, False), (conv, True)):
        with torch.no_grad():
            change = (head(bumped) - head(token)).abs()[0, 0, 0]  # (2p, 2p)
        outside = change.clone()
        outside[:p, :p] = 0
        assert change[:p, :p].sum() > 0
        assert bool(outside.sum() > 0) is crosses


@pytest.mark.parametrize("kind", ["pixel_stem", "pixel_head"])
def test_conv_parts_with_the_spectrogram_layout_keep_the_contract(kind):
    check_component(kind, "conv", layout="spectrogram")


def conv_part(kind, layout, patch=2):
    torch.manual_seed(0)
    if kind == "pixel_stem":
        return build_component({"name": "conv", "channels": 8, "layout": layout}, kind, in_channels=1, dim=8,
                               patch=patch).eval()
    return build_component({"name": "conv", "channels": 8, "layout": layout}, kind, dim=8, out_channels=1,
                           patch=patch).eval()


@pytest.mark.parametrize("kind", ["pixel_stem", "pixel_head"])
def test_the_spectrogram_layout_joins_neighbouring_frames_along_time(kind):
    """Frames of a mel_frames stream are consecutive chunks of one spectrogram: with layout
    "spectrogram" a change at the end of frame 1 reaches the start of frame 2; with "frames" it
    stays in frame 1. With one frame the two layouts agree."""
    x = torch.randn(1, 1 if kind == "pixel_stem" else 8, 3, 4, 4)
    changed = x.clone()
    changed[:, :, 1, :, -1] += 1.0  # the last column (latest time) of frame 1
    moved = {}
    for layout in ("frames", "spectrogram"):
        part = conv_part(kind, layout)
        with torch.no_grad():
            moved[layout] = (part(changed) - part(x)).abs().amax(dim=(0, 1, 3))  # (T, W)
    assert moved["frames"][1].sum() > 0 and moved["frames"][0].sum() == 0 and moved["frames"][2].sum() == 0
    assert moved["spectrogram"][2, 0] > 0 and moved["spectrogram"][1].sum() > 0
    one = x[:, :, :1]
    with torch.no_grad():
        torch.testing.assert_close(conv_part(kind, "spectrogram")(one), conv_part(kind, "frames")(one))


def test_conv_stem_and_head_need_a_power_of_two():
    with pytest.raises(proav_core.ConfigError, match="power of two") as err:
        build_component({"name": "conv"}, "pixel_stem", in_channels=3, dim=8, patch=6)
    assert "encoder.stem" in str(err.value)
    with pytest.raises(proav_core.ConfigError, match="power of two"):
        build_component({"name": "conv"}, "pixel_head", dim=8, out_channels=3, patch=3)


def test_mdsa_builds_with_conv_stem_and_head_by_name():
    clip = ClipSpec(frames=3, fps=3.0, height=16, width=16)
    ae = tiny_mdsa(clip, encoder={**TINY_MDSA["encoder"], "stem": {"name": "conv", "channels": 8}},
                   decoder={**TINY_MDSA["decoder"], "head": {"name": "conv", "channels": 8, "max_channels": 16}})
    assert type(ae.encoders["video"].stem).__name__ == "ConvStem"
    assert type(ae.decoders["audio"].head).__name__ == "ConvHead"
    video, audio = torch.rand(2, 3, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    out = ae(video, audio)
    assert out.streams["video"].shape == (2, 3, 3, 16, 16) and out.streams["audio"].shape == (2, 1, 3, 16, 16)


def test_image_mean_path_starts_at_zero_and_carries_a_frames_mean():
    """image_mean = "linear": zero-initialised, so the head starts as without it; once trained it
    adds one value per frame and channel, the same at every pixel, that follows the frame's mean
    token only; the stem refuses the option."""
    torch.manual_seed(0)
    plain = build_component({"name": "conv", "channels": 8}, "pixel_head", dim=8, out_channels=3, patch=2).eval()
    torch.manual_seed(0)
    head = build_component({"name": "conv", "channels": 8, "image_mean": "linear"}, "pixel_head", dim=8,
                           out_channels=3, patch=2).eval()
    head.load_state_dict({**plain.state_dict(), **{k: v for k, v in head.state_dict().items() if "mean_path" in k}})
    x = torch.randn(2, 8, 3, 4, 4)  # (B, D, T, H', W')
    with torch.no_grad():
        torch.testing.assert_close(head(x), plain(x))
        torch.nn.init.normal_(head.mean_path.weight)
        added = head(x) - plain(x)  # (B, 3, T, 8, 8)
        expected = torch.einsum("cd,btd->bct", head.mean_path.weight, x.mean((3, 4)).transpose(1, 2))
        torch.testing.assert_close(added, expected[..., None, None].expand_as(added))
    with pytest.raises(proav_core.ConfigError, match="image_mean") as err:
        build_component({"name": "conv", "image_mean": "linear"}, "pixel_stem", in_channels=3, dim=8, patch=2)
    assert "encoder.stem" in str(err.value)


def test_image_mean_head_keeps_the_contract():
    check_component("pixel_head", "conv", image_mean="linear")
