"""Transformer building blocks; public API for plugin authors (the first-party MDSA, STDiT
and TokenDiT are built from them, and proav_plugins.layers re-exports them).

    Attention(dim, heads, context_dim=None)   self- or cross-attention, (B, N, D) -> (B, N, D)
    Mlp(dim, hidden, out_dim=None)             Linear -> GELU(tanh) -> Linear
    TransformerBlock(dim, heads, mlp_dim)      pre-norm attention + MLP, (B, N, D) -> (B, N, D)
    TimestepEmbedder(dim)                      flow time t (B,) in [0, 1] -> (B, D)
    modulate(x, shift, scale)                  adaptive-norm shift/scale, x * (1 + scale) + shift
    sincos_1d(positions, dim), sincos_2d(h, w, dim)   fixed sinusoidal position tables

Attention always goes through torch.nn.functional.scaled_dot_product_attention, so the
fused kernels are used wherever the device has them. Not a plugin module: nothing here is
registered.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class Attention(nn.Module):
    """Multi-head attention: self-attention, or cross-attention when `context` is given."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None, qkv_bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """x (B, N, D), context (B, M, Dc) or None, mask (B, N, M) bool or None -> (B, N, D)."""
        context = x if context is None else context
        q = rearrange(self.to_q(x), "b n (h d) -> b h n d", h=self.heads)  # (B, h, N, d)
        k, v = rearrange(self.to_kv(context), "b m (two h d) -> two b h m d", two=2, h=self.heads)
        if mask is not None:
            mask = mask[:, None]  # (B, 1, N, M), broadcast over heads
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, N, d)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))  # (B, N, D)


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
