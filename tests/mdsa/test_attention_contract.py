"""The shared contract of kind `attention` (proav_core.testing), parametrised over the live
registry (third-party blocks get it too), plus the specific behaviour of each first-party block."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core import build_component
from proav_core.testing import check_component, perturb_zero_params

SPECS = proav_core.list_components("attention")
NAMES = [s.name for s in SPECS]
DIM = 16
# stream layouts (after B, D): a plane with odd T first, a volume with odd T and odd W
LAYOUTS = {"plane": (5, 6), "volume": (5, 4, 7)}
CROSS_MODAL = {"gcm_attn", "bi_block_crossattn"}
PER_STREAM = {"spatial_selfattn", "mt_selfattn"}


def block(name: str, streams=("video", "audio"), **params):
    return build_component({"name": name, **params}, "attention", dim=DIM, streams=streams)


def streams(layout: str, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, DIM, *LAYOUTS[layout])
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@pytest.mark.parametrize("name", NAMES)
def test_attention_contract(name):
    """proav_core.testing's contract: shapes kept for planes and volumes, gradients reach every
    parameter, deterministic in eval, one stream alone (third-party blocks run it, too)."""
    check_component("attention", name)


@pytest.mark.parametrize("name", sorted(CROSS_MODAL | {"identity"}))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cross_modal_blocks_start_as_identity(name, layout):
    v, a = streams(layout)
    out_v, out_a = block(name)(v, a)
    assert torch.equal(out_v, v) and torch.equal(out_a, a)


@pytest.mark.parametrize("name", sorted(CROSS_MODAL | PER_STREAM))
def test_information_flows_across_streams_only_in_cross_modal_blocks(name):
    m = block(name)
    perturb_zero_params(m)
    v, a = streams("volume")
    a2 = a.clone()
    a2[:, :, 0, 0, 0] += torch.randn(DIM)  # perturb the audio stream at one position (not a
    # constant over channels: LayerNorm would cancel that)
    out_v1, _ = m(v, a)
    out_v2, _ = m(v, a2)
    change = (out_v1 - out_v2).abs().max()
    assert (change > 1e-3) if name in CROSS_MODAL else (change < 1e-6), change


def test_spatial_selfattn_on_a_volume_stays_within_each_frame():
    m = block("spatial_selfattn")
    v, a = streams("volume")
    v2 = v.clone()
    v2[:, :, 0] += torch.randn(DIM, 1, 1)  # change frame 0 only
    out1, _ = m(v, a)
    out2, _ = m(v2, a)
    assert not torch.allclose(out1[:, :, 0], out2[:, :, 0])
    assert torch.allclose(out1[:, :, 1:], out2[:, :, 1:], atol=1e-6)


@pytest.mark.parametrize("frames", [1, 2, 3, 5, 8])
def test_mt_selfattn_attends_along_time_at_each_position_for_any_length(frames):
    m = block("mt_selfattn", scales=[1, 2, 4])
    x = torch.randn(1, DIM, frames, 6)
    x2 = x.clone()
    x2[:, :, :, 0] += torch.randn(DIM, 1)  # change column 0 at every frame
    out1, _ = m(x, None)
    out2, _ = m(x2, None)
    assert out1.shape == x.shape
    assert not torch.allclose(out1[..., 0], out2[..., 0])
    assert torch.allclose(out1[..., 1:], out2[..., 1:], atol=1e-6)


def test_mt_selfattn_uses_every_scale():
    m = block("mt_selfattn", scales=[1, 2, 4])
    x = torch.randn(2, DIM, 7, 3)
    base, _ = m(x, None)
    for i, scale in enumerate(m.per_stream["video"].scales):
        with torch.no_grad():
            scale.up.bias.add_(1.0)  # shifts the output only if this scale's branch is summed in
        moved, _ = m(x, None)
        assert not torch.allclose(base, moved), f"scale {scale.k} (#{i}) does not reach the output"
        base = moved
