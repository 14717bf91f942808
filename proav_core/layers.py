"""Transformer building blocks; public API for plugin authors (the first-party MDSA, STDiT
and TokenDiT are built from them, and proav_plugins.layers re-exports them).

    Attention(dim, heads, context_dim=None)   self- or cross-attention, (B, N, D) -> (B, N, D)
                                               (self: one fused qkv Linear; old to_q/to_kv
                                               state dicts load through fuse_legacy_qkv)
    Mlp(dim, hidden, out_dim=None)             Linear -> GELU(tanh) -> Linear
    TransformerBlock(dim, heads, mlp_dim)      pre-norm attention + MLP, (B, N, D) -> (B, N, D)
    TimestepEmbedder(dim)                      flow time t (B,) in [0, 1] -> (B, D)
    modulate(x, shift, scale)                  adaptive-norm shift/scale, x * (1 + scale) + shift
    sincos_1d(positions, dim), sincos_2d(h, w, dim)   fixed sinusoidal position tables

Attention goes through torch.nn.functional.scaled_dot_product_attention, so the fused
kernels are used wherever the device has them; a context of one token (softmax over one key
is 1) is a broadcast of the projected value and skips the kernel. Not a plugin module:
nothing here is registered.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class Attention(nn.Module):
    """Multi-head attention: self-attention, or cross-attention when `context` is given.

    Projections: without `context_dim` one fused Linear `to_qkv` (D -> 3D, rows q, k, v, one
    matmul for self-attention; with a `context` at call time q is taken from x and k, v from
    the context through the same weights); with `context_dim` (cross-attention) `to_q`
    (D -> D) and `to_kv` (Dc -> 2D, rows k, v). State dicts of the earlier self-attention
    layout (`to_q` + `to_kv`) still load: a load hook concatenates them into `to_qkv`.

    One key (a context of M = 1 token, no mask): softmax over one key is 1, so every query
    gets the projected value; it is computed as proj(v) on that token and broadcast over
    the N queries, without q or the attention kernel (equal to the kernel path; the q
    weights still receive their exact gradient, zero).
    """

    def __init__(self, dim: int, heads: int, context_dim: int | None = None, qkv_bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads, self.dim = heads, dim
        self.fused = context_dim is None
        if self.fused:
            self.to_qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
            self.register_load_state_dict_pre_hook(fuse_legacy_qkv)
        else:
            self.to_q = nn.Linear(dim, dim, bias=qkv_bias)
            self.to_kv = nn.Linear(context_dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """x (B, N, D), context (B, M, Dc) or None, mask (B, N, M) bool or None -> (B, N, D)."""
        if context is not None and context.shape[1] == 1 and mask is None:
            return self._single_key(x, context)  # (B, N, D)
        q, k, v = self._project(x, context)  # (B, h, N, d), (B, h, M, d) x 2
        if mask is not None:
            mask = mask[:, None]  # (B, 1, N, M), broadcast over heads
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, N, d)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))  # (B, N, D)

    def _weights(self, part: slice) -> tuple[Tensor, Tensor | None]:
        """Rows `part` of the fused projection: (weight, bias or None)."""
        bias = self.to_qkv.bias
        return self.to_qkv.weight[part], None if bias is None else bias[part]

    def _project(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """q (B, h, N, d) from x; k, v (B, h, M, d) from the context (x itself when None)."""
        d = self.dim
        if self.fused and context is None:
            return rearrange(self.to_qkv(x), "b n (three h e) -> three b h n e", three=3, h=self.heads)
        if self.fused:
            q = F.linear(x, *self._weights(slice(0, d)))  # (B, N, D)
            kv = F.linear(context, *self._weights(slice(d, 3 * d)))  # (B, M, 2D)
        else:
            q, kv = self.to_q(x), self.to_kv(x if context is None else context)
        k, v = rearrange(kv, "b m (two h e) -> two b h m e", two=2, h=self.heads)
        return rearrange(q, "b n (h e) -> b h n e", h=self.heads), k, v

    def _single_key(self, x: Tensor, context: Tensor) -> Tensor:
        """x (B, N, D), context (B, 1, Dc) -> proj(v) broadcast to (B, N, D)."""
        d = self.dim
        if self.fused:
            v = F.linear(context, *self._weights(slice(2 * d, 3 * d)))  # (B, 1, D)
        else:
            bias = self.to_kv.bias
            v = F.linear(context, self.to_kv.weight[d:], None if bias is None else bias[d:])  # (B, 1, D)
        out = self.proj(v)  # (B, 1, D)
        if not self.fused and torch.is_grad_enabled() and self.to_q.weight.requires_grad:
            # q does not enter the result; give its weights the exact gradient (zero), as the
            # kernel path does, so DDP sees every parameter used and the optimiser (weight
            # decay, moments) treats them as before. Costs one reduction over D x D values.
            out = out + 0.0 * sum(p.sum() for p in self.to_q.parameters())
        return out.expand(x.shape[0], x.shape[1], d)  # (B, N, D)


def fuse_legacy_qkv(module: Attention, state_dict: dict, prefix: str, *_: object) -> None:
    """Load-state-dict pre-hook of a self-attention Attention: an earlier layout's separate
    `to_q` (D -> D) and `to_kv` (D -> 2D) become `to_qkv` = [to_q; to_kv] (rows q, k, v), in
    place in `state_dict`, so old checkpoints load with strict=True."""
    for name in ("weight", "bias"):
        q, kv = f"{prefix}to_q.{name}", f"{prefix}to_kv.{name}"
        if q in state_dict and kv in state_dict and f"{prefix}to_qkv.{name}" not in state_dict:
            state_dict[f"{prefix}to_qkv.{name}"] = torch.cat([state_dict.pop(q), state_dict.pop(kv)], dim=0)


class Mlp(nn.Module):
    """Linear -> GELU (tanh) -> Linear."""

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, out_dim or dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))  # (..., D) -> (..., out_dim)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + Attn(LN(x)), then x + Mlp(LN(x)). (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))  # (B, N, D)
        return x + self.mlp(self.norm2(x))  # (B, N, D)


def sincos_1d(positions: Tensor, dim: int) -> Tensor:
    """Fixed sinusoidal embedding: positions (N,) float -> (N, dim), dim even."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding width must be even, got {dim}")
    freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))
    angles = positions.to(torch.float64)[:, None] * freqs[None]  # (N, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()  # (N, dim)


def sincos_2d(height: int, width: int, dim: int) -> Tensor:
    """Fixed 2-D sinusoidal embedding of a height x width grid -> (height * width, dim)."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding width must be a multiple of 4, got {dim}")
    rows = sincos_1d(torch.arange(height).repeat_interleave(width), dim // 2)  # (H*W, dim/2)
    cols = sincos_1d(torch.arange(width).repeat(height), dim // 2)  # (H*W, dim/2)
    return torch.cat([rows, cols], dim=1)  # (H*W, dim)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """x (B, ..., D) * (1 + scale) + shift, shift/scale broadcastable to x."""
    return x * (1 + scale) + shift


class TimestepEmbedder(nn.Module):
    """t (B,) in [0, 1] -> (B, D): sinusoid of 1000 t (DiT's frequencies), then an MLP."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        angles = 1000.0 * t.float()[:, None] * freqs[None]  # (B, F/2)
        emb = torch.cat([angles.cos(), angles.sin()], dim=-1)  # (B, F)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))  # (B, D)
