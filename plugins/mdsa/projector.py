"""`plane_projector`: 3-D feature volume -> one 2-D latent plane (paper Eq. 2).

Each line of the volume along the collapsed axis (a sequence of T, H' or W' tokens) gets a
learned aggregation token prepended; a small transformer runs over the line and the token's
output, projected to `out_dim`, becomes that plane position's feature. Paper (appendix 5.2):
4 layers, 4 heads, width 384, MLP 512. Positions along the line are fixed sin-cos, so any
length works.
"""

from __future__ import annotations

import torch
from einops import rearrange, repeat
from pydantic import Field
from torch import Tensor, nn

from proav_core import ComponentParams, ConfigError
from proav_core.layers import TransformerBlock
from proav_plugins.mdsa.spacetime import CHECKPOINT_BLOCKS_HELP, run_checkpointed, sincos_positions

# collapsed axis -> (einops pattern volume -> lines, lines -> plane)
_LINES = {
    "t": ("b d t h w -> (b h w) t d", "(b h w) d -> b d h w"),
    "h": ("b d t h w -> (b t w) h d", "(b t w) d -> b d t w"),
    "w": ("b d t h w -> (b t h) w d", "(b t h) d -> b d t h"),
}


class PlaneProjectorParams(ComponentParams):
    width: int = Field(384, ge=2, multiple_of=2, description="transformer width (paper: 384)")
    depth: int = Field(4, ge=1, description="transformer layers (paper: 4)")
    heads: int = Field(4, ge=1, description="attention heads (paper: 4)")
    mlp_dim: int = Field(512, ge=1, description="MLP hidden width (paper: 512)")
    checkpoint_blocks: int = Field(0, ge=0, description=CHECKPOINT_BLOCKS_HELP)


class PlaneProjector(nn.Module):
    """(B, in_dim, T, H', W') -> (B, out_dim, a, b): axis "t" -> (H', W'), "h" -> (T, W'),
    "w" -> (T, H')."""

    def __init__(self, width: int, depth: int, heads: int, mlp_dim: int, checkpoint_blocks: int = 0, axis: str = "t",
                 in_dim: int = 384, out_dim: int = 8, size: tuple[int, int, int] | None = None):
        super().__init__()
        if axis not in _LINES:
            raise ConfigError(f"projector axis must be one of t, h, w; got {axis!r}")
        if width % heads:
            raise ConfigError(f"projector width={width} is not divisible by heads={heads}", path="projector.heads")
        self.axis, self.out_dim, self.checkpoint_blocks = axis, out_dim, checkpoint_blocks
        self.proj_in = nn.Linear(in_dim, width)
        self.token = nn.Parameter(torch.empty(1, 1, width))
        nn.init.uniform_(self.token, -0.02 * 3**0.5, 0.02 * 3**0.5)  # std 0.02
        self.blocks = nn.Sequential(*(TransformerBlock(width, heads, mlp_dim) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, out_dim)

    def forward(self, u: Tensor) -> Tensor:
        """u (B, in_dim, T, H', W') -> plane (B, out_dim, a, b)."""
        b, _, t, h, w = u.shape
        to_lines, to_plane = _LINES[self.axis]
        x = self.proj_in(rearrange(u, to_lines))  # (N, L, width), N lines of length L
        x = torch.cat([repeat(self.token, "1 1 d -> n 1 d", n=x.shape[0]), x], dim=1)  # (N, L+1, width)
        x = x + sincos_positions(x, x.shape[1], dim=x.shape[-1])  # (N, L+1, width)
        x = run_checkpointed(self.blocks, x, self.checkpoint_blocks if self.training else 0)  # (N, L+1, width)
        x = self.proj_out(self.norm(x[:, 0]))  # (N, out_dim)
        kept = {"t": {"h": h}, "h": {"t": t}, "w": {"t": t}}[self.axis]
        return rearrange(x, to_plane, b=b, **kept)  # (B, out_dim, a, b)
