"""Contracts of the pixel stems and heads (kinds `pixel_stem`, `pixel_head`), parametrised over
the live registry, plus what tells the built-ins apart: the linear patch head cannot draw
across patch borders, the convolutional one can; the encoder and decoder take either by name."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core import ClipSpec, build_component

from .helpers import TINY_MDSA, tiny_mdsa

T, H, W = 3, 16, 16


def names(kind):
    return [s.name for s in proav_core.list_components(kind)]


def test_both_built_ins_are_registered():
    assert {"patch_linear", "conv"} <= set(names("pixel_stem"))
    assert {"patch_linear", "conv"} <= set(names("pixel_head"))


@pytest.mark.parametrize("patch", [2, 4])
@pytest.mark.parametrize("name", names("pixel_stem"))
def test_stem_contract(name, patch):
    stem = build_component({"name": name}, "pixel_stem", in_channels=3, dim=16, patch=patch)
    x = torch.rand(2, 3, T, H, W) * 2 - 1
    y = stem(x)
    assert y.shape == (2, 16, T, H // patch, W // patch)
    y.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in stem.parameters())
    torch.testing.assert_close(stem(x[:1]), y[:1].detach(), msg="a clip's tokens must not depend on its batch")


@pytest.mark.parametrize("patch", [2, 4])
@pytest.mark.parametrize("name", names("pixel_head"))
def test_head_contract(name, patch):
    head = build_component({"name": name}, "pixel_head", dim=16, out_channels=1, patch=patch)
    x = torch.randn(2, 16, T, H // patch, W // patch)
    y = head(x)
    assert y.shape == (2, 1, T, H, W)
    y.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


PARTS = [("pixel_stem", n) for n in names("pixel_stem")] + [("pixel_head", n) for n in names("pixel_head")]


@pytest.mark.parametrize(("kind", "name"), PARTS, ids=[f"{k}:{n}" for k, n in PARTS])
def test_frames_are_handled_one_by_one(kind, name):
    if kind == "pixel_stem":
        module = build_component({"name": name}, kind, in_channels=3, dim=8, patch=2).eval()
        x = torch.randn(1, 3, T, H, W)
    else:
        module = build_component({"name": name}, kind, dim=8, out_channels=3, patch=2).eval()
        x = torch.randn(1, 8, T, H // 2, W // 2)
    changed = x.clone()
    changed[:, :, 1] += 1.0  # only frame 1 differs
    with torch.no_grad():
        diff = (module(changed) - module(x)).abs().amax(dim=(0, 1, 3, 4))  # (T,)
    assert diff[1] > 0 and diff[0] == 0 and diff[2] == 0, f"{kind} {name}: frames mix ({diff.tolist()})"


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
