"""Shared transformer layers (proav_core.layers, public API for plugin authors)."""

from __future__ import annotations

import pytest
import torch

from proav_core.layers import Attention, Mlp, TimestepEmbedder, TransformerBlock, modulate, sincos_1d, sincos_2d


def test_cross_attention_shapes_and_mask_blocks_keys():
    attn = Attention(16, heads=4, context_dim=8).eval()
    x, ctx = torch.randn(2, 5, 16), torch.randn(2, 3, 8)
    mask = torch.ones(2, 5, 3, dtype=torch.bool)
    mask[:, :, 2] = False  # nobody may look at key 2
    out = attn(x, ctx, mask)
    assert out.shape == (2, 5, 16)
    ctx2 = ctx.clone()
    ctx2[:, 2] += 10.0
    assert torch.allclose(attn(x, ctx2, mask), out, atol=1e-6)
    assert not torch.allclose(attn(x, ctx2), attn(x, ctx), atol=1e-3)


def test_self_attention_is_permutation_equivariant():
    block = TransformerBlock(16, heads=2, mlp_dim=32).eval()
    x = torch.randn(1, 6, 16)
    perm = torch.randperm(6)
    assert torch.allclose(block(x)[:, perm], block(x[:, perm]), atol=1e-5)


def test_bad_head_count():
    with pytest.raises(ValueError, match="not divisible by 3 heads"):
        Attention(16, heads=3)


def test_mlp_out_dim():
    assert Mlp(8, 32, out_dim=4)(torch.randn(3, 8)).shape == (3, 4)


def test_sincos_embeddings():
    emb = sincos_1d(torch.arange(4), 8)
    assert emb.shape == (4, 8)
    assert torch.allclose(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))  # position 0: sin 0, cos 0
    grid = sincos_2d(2, 3, 8)
    assert grid.shape == (6, 8)
    assert torch.equal(grid[0, :4], grid[1, :4])  # same row -> same row half
    assert not torch.equal(grid[0, 4:], grid[1, 4:])


def test_modulate_and_timestep_embedder():
    x = torch.tensor([[1.0, 2.0]])
    assert torch.equal(modulate(x, shift=torch.tensor([0.5, 0.0]), scale=torch.tensor([1.0, -1.0])),
                       torch.tensor([[2.5, 0.0]]))  # x * (1 + scale) + shift
    embed = TimestepEmbedder(16)
    out = embed(torch.tensor([0.0, 0.5, 0.5]))
    assert out.shape == (3, 16) and torch.allclose(out[1], out[2]) and not torch.allclose(out[0], out[1])
