"""Divided space-time transformer blocks (TimeSformer style), 3-D position embeddings and
activation checkpointing of a block stack, shared by the `timesformer3d` encoder, the
`plane_decoder` and the `plane_projector`. Not registered itself."""

from __future__ import annotations

import functools

import torch
import torch.utils.checkpoint
from einops import rearrange
from torch import Tensor, nn

from proav_core.layers import Attention, Mlp, sincos_1d, sincos_2d


@functools.lru_cache(maxsize=64)
def _sincos_table(kind: str, sizes: tuple[int, ...], dim: int) -> Tensor:
    """Fixed sin-cos tables, computed once per size on the CPU (also under a meta context)."""
    with torch.device("cpu"):
        if kind == "1d":
            return sincos_1d(torch.arange(sizes[0]), dim)  # (N, dim)
        if kind == "2d":
            return sincos_2d(*sizes, dim)  # (H*W, dim)
        frames, height, width = sizes
        t = sincos_1d(torch.arange(frames), dim // 2)  # (T, dim/2)
        hw = sincos_2d(height, width, dim // 2)  # (H*W, dim/2)
        t = rearrange(t, "t c -> c t 1 1").expand(-1, -1, height, width)  # (dim/2, T, H, W)
        hw = rearrange(hw, "(h w) c -> c 1 h w", h=height).expand(-1, frames, -1, -1)  # (dim/2, T, H, W)
        return torch.cat([t, hw], dim=0)  # (dim, T, H, W)


def sincos_positions(like: Tensor, *sizes: int, dim: int) -> Tensor:
    """Fixed sin-cos positions on `like`'s device and dtype: one size -> (N, dim) (1-D),
    two -> (H*W, dim) (2-D), three -> (dim, T, H, W) (3-D: half the width for the frame
    index, half for the (row, column); dim a multiple of 8)."""
    if len(sizes) == 3 and dim % 8:
        raise ValueError(f"3-D sin-cos embedding width must be a multiple of 8, got {dim}")
    kind = {1: "1d", 2: "2d", 3: "3d"}[len(sizes)]
    return _sincos_table(kind, tuple(int(s) for s in sizes), dim).to(device=like.device, dtype=like.dtype)


CHECKPOINT_BLOCKS_HELP = ("recompute the activations of this many blocks (from the first) in backward to "
                          "save memory; 0 = off")


def run_checkpointed(blocks: nn.Module, x: Tensor, checkpoint_blocks: int) -> Tensor:
    """Apply one-input blocks in order, x -> x (any shape); the first `checkpoint_blocks`
    recompute their activations in backward when gradients are on (as STDiT's blocks do:
    the caller passes 0 outside training)."""
    for i, block in enumerate(blocks):
        if i < checkpoint_blocks and torch.is_grad_enabled():
            x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
        else:
            x = block(x)
    return x


class DividedSpaceTimeBlock(nn.Module):
    """x + TemporalAttn(LN x) over T at each (h, w); x + SpatialAttn(LN x) over (h, w) in each
    frame; x + Mlp(LN x). Input and output (B, T, H, W, D) -- channels last."""

    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.norm_t = nn.LayerNorm(dim)
        self.attn_t = Attention(dim, heads)
        self.norm_s = nn.LayerNorm(dim)
        self.attn_s = Attention(dim, heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x: Tensor) -> Tensor:
        b, t, h, w, _ = x.shape
        xt = rearrange(x, "b t h w d -> (b h w) t d")  # (B*H*W, T, D)
        xt = xt + self.attn_t(self.norm_t(xt))  # (B*H*W, T, D)
        xs = rearrange(xt, "(b h w) t d -> (b t) (h w) d", b=b, h=h)  # (B*T, H*W, D)
        xs = xs + self.attn_s(self.norm_s(xs))  # (B*T, H*W, D)
        xs = xs + self.mlp(self.norm_mlp(xs))  # (B*T, H*W, D)
        return rearrange(xs, "(b t) (h w) d -> b t h w d", b=b, h=h)  # (B, T, H, W, D)


class DividedSpaceTimeStack(nn.Module):
    """`depth` divided space-time blocks and a final LayerNorm: (B, T, H, W, D) -> same.
    In training the first `checkpoint_blocks` blocks recompute their activations in backward."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_dim: int, checkpoint_blocks: int = 0):
        super().__init__()
        self.checkpoint_blocks = checkpoint_blocks
        self.blocks = nn.ModuleList(DividedSpaceTimeBlock(dim, heads, mlp_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = run_checkpointed(self.blocks, x, self.checkpoint_blocks if self.training else 0)  # (B, T, H, W, D)
        return self.norm(x)  # (B, T, H, W, D)
