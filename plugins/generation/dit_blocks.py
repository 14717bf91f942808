"""Transformer blocks of the generators, each starting as the identity (all gates zero).

STDiTBlock (Open-Sora's STDiT, paper §3.2) works on a frame grid x (B, F, S, D):
spatial self-attention among the S tokens of each frame, temporal self-attention among the
F frames at each position, cross-attention to the condition tokens, MLP.
DiTBlock works on a plain sequence x (B, N, D): self-attention, cross-attention, MLP.
Every branch is a gated residual; shift/scale/gate come from the shared timestep
modulation (B, K, D) plus the block's own table (K, D), both zero at initialisation.
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint
from einops import rearrange
from torch import Tensor, nn

from proav_core.layers import Attention, Mlp, modulate
from proav_plugins.generation.dit_layers import norm


def _rows(mod: Tensor, ndim: int) -> list[Tensor]:
    """(B, K, D) -> K tensors (B, 1, ..., 1, D) broadcastable to a rank-`ndim` activation."""
    b, k, d = mod.shape
    return list(mod.reshape(b, k, *([1] * (ndim - 2)), d).unbind(1))


class STDiTBlock(nn.Module):
    """Spatial attn, temporal attn, cross attn, MLP. x (B, F, S, D), y (B, L, D) -> (B, F, S, D)."""

    K = 10  # shift/scale/gate for spatial, temporal and MLP, a gate for cross-attention

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm_s, self.attn_s = norm(dim), Attention(dim, heads)
        self.norm_t, self.attn_t = norm(dim), Attention(dim, heads)
        self.norm_c, self.attn_c = norm(dim), Attention(dim, heads, context_dim=dim)
        self.norm_m, self.mlp = norm(dim), Mlp(dim, int(dim * mlp_ratio))
        self.table = nn.Parameter(torch.zeros(self.K, dim))

    def spatial(self, x: Tensor) -> Tensor:
        """Self-attention within each frame: (B, F, S, D) -> (B, F, S, D)."""
        f = x.shape[1]
        out = self.attn_s(rearrange(x, "b f s d -> (b f) s d"))  # (B*F, S, D)
        return rearrange(out, "(b f) s d -> b f s d", f=f)

    def temporal(self, x: Tensor) -> Tensor:
        """Self-attention across frames at each position: (B, F, S, D) -> (B, F, S, D)."""
        s = x.shape[2]
        out = self.attn_t(rearrange(x, "b f s d -> (b s) f d"))  # (B*S, F, D)
        return rearrange(out, "(b s) f d -> b f s d", s=s)

    def cross(self, x: Tensor, y: Tensor) -> Tensor:
        """Every token attends to the condition tokens: (B, F, S, D), (B, L, D) -> (B, F, S, D)."""
        f = x.shape[1]
        out = self.attn_c(rearrange(x, "b f s d -> b (f s) d"), context=y)  # (B, F*S, D)
        return rearrange(out, "b (f s) d -> b f s d", f=f)

    def forward(self, x: Tensor, y: Tensor, mod: Tensor) -> Tensor:
        """x (B, F, S, D), y (B, L, D), mod (B, K, D) -> (B, F, S, D)."""
        sh_s, sc_s, g_s, sh_t, sc_t, g_t, g_c, sh_m, sc_m, g_m = _rows(self.table[None] + mod, x.dim())
        x = x + g_s * self.spatial(modulate(self.norm_s(x), sh_s, sc_s))  # (B, F, S, D)
        x = x + g_t * self.temporal(modulate(self.norm_t(x), sh_t, sc_t))  # (B, F, S, D)
        x = x + g_c * self.cross(self.norm_c(x), y)  # (B, F, S, D)
        return x + g_m * self.mlp(modulate(self.norm_m(x), sh_m, sc_m))  # (B, F, S, D)


class DiTBlock(nn.Module):
    """Self attn, cross attn, MLP over one sequence. x (B, N, D), y (B, L, D) -> (B, N, D)."""

    K = 7  # shift/scale/gate for self-attention and MLP, a gate for cross-attention

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm_a, self.attn = norm(dim), Attention(dim, heads)
        self.norm_c, self.attn_c = norm(dim), Attention(dim, heads, context_dim=dim)
        self.norm_m, self.mlp = norm(dim), Mlp(dim, int(dim * mlp_ratio))
        self.table = nn.Parameter(torch.zeros(self.K, dim))

    def forward(self, x: Tensor, y: Tensor, mod: Tensor) -> Tensor:
        """x (B, N, D), y (B, L, D), mod (B, K, D) -> (B, N, D)."""
        sh_a, sc_a, g_a, g_c, sh_m, sc_m, g_m = _rows(self.table[None] + mod, x.dim())
        x = x + g_a * self.attn(modulate(self.norm_a(x), sh_a, sc_a))  # (B, N, D)
        x = x + g_c * self.attn_c(self.norm_c(x), context=y)  # (B, N, D)
        return x + g_m * self.mlp(modulate(self.norm_m(x), sh_m, sc_m))  # (B, N, D)


def run_blocks(blocks: nn.ModuleList, x: Tensor, y: Tensor, mod: Tensor, checkpoint_blocks: int) -> Tensor:
    """Apply the blocks; the first `checkpoint_blocks` recompute their activations in backward."""
    for i, block in enumerate(blocks):
        if i < checkpoint_blocks and torch.is_grad_enabled():
            x = torch.utils.checkpoint.checkpoint(block, x, y, mod, use_reentrant=False)
        else:
            x = block(x, y, mod)
    return x
