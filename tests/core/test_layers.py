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


def _count_kernel_calls(monkeypatch) -> list[int]:
    calls = []
    kernel = torch.nn.functional.scaled_dot_product_attention

    def counted(*args, **kwargs):
        calls.append(1)
        return kernel(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counted)
    return calls


@pytest.mark.parametrize("context_dim", [8, None])  # cross-attention layout, fused self-attention layout
def test_one_condition_token_is_a_broadcast_equal_to_the_kernel(monkeypatch, context_dim):
    torch.manual_seed(0)
    attn = Attention(16, heads=4, context_dim=context_dim)
    x, ctx = torch.randn(2, 7, 16), torch.randn(2, 1, context_dim or 16)
    calls = _count_kernel_calls(monkeypatch)
    fast = attn(x, ctx)
    assert calls == []  # no attention kernel for one key
    fast.square().sum().backward()
    fast_grads = {n: p.grad.clone() for n, p in attn.named_parameters()}
    attn.zero_grad()
    slow = attn(x, ctx, torch.ones(2, 7, 1, dtype=torch.bool))  # a mask keeps the kernel path
    assert calls == [1]
    slow.square().sum().backward()
    torch.testing.assert_close(fast, slow, atol=1e-6, rtol=0)
    assert torch.allclose(fast, fast[:, :1].expand_as(fast))  # every query gets the same value
    for name, p in attn.named_parameters():  # q weights included: zero, present (DDP, weight decay)
        torch.testing.assert_close(fast_grads[name], p.grad, atol=1e-5, rtol=1e-5, msg=name)  # sums of 14 queries, |g| ~ 40
    # the broadcast path's q weights get exact zeros; the kernel's backward only near-zeros on some
    # CPUs (its one-key softmax gradient is rounded), which the assert_close above bounds
    q_grad = fast_grads["to_q.weight"] if context_dim else fast_grads["to_qkv.weight"][:16]
    assert not q_grad.any()


def test_more_condition_tokens_still_use_the_kernel(monkeypatch):
    attn = Attention(16, heads=4, context_dim=8)
    calls = _count_kernel_calls(monkeypatch)
    out = attn(torch.randn(2, 7, 16), torch.randn(2, 2, 8))
    assert calls == [1] and out.shape == (2, 7, 16)
    assert not torch.allclose(out[:, 0], out[:, 1])  # queries differ again


def test_self_attention_projects_q_k_v_with_one_fused_linear():
    attn = Attention(16, heads=4)
    assert attn.to_qkv.weight.shape == (48, 16) and not hasattr(attn, "to_q")
    x = torch.randn(2, 5, 16)
    q, k, v = (torch.nn.functional.linear(x, w, b) for w, b in
               zip(attn.to_qkv.weight.chunk(3), attn.to_qkv.bias.chunk(3), strict=True))
    split = lambda t: t.unflatten(-1, (4, 4)).transpose(1, 2)  # noqa: E731  (B, h, N, d)
    ref = torch.nn.functional.scaled_dot_product_attention(split(q), split(k), split(v))
    torch.testing.assert_close(attn(x), attn.proj(ref.transpose(1, 2).flatten(2)), atol=1e-6, rtol=0)
    torch.testing.assert_close(attn(x, x), attn(x), atol=1e-6, rtol=0)  # context = x is self-attention
