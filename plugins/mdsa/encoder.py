"""`timesformer3d`: video-to-3D-latent encoder with divided space-time attention (paper Eq. 1).

A pixel stem (kind `pixel_stem`: the paper's linear (1, d, d) patch embedding `patch_linear`,
or the convolutional `conv`) turns each frame into an H/d x W/d grid of tokens (T is kept),
fixed 3-D sin-cos positions are added, then `depth` TimeSformer blocks attend over time at
each position and over space within each frame. Paper: 256 x 256 -> 32 x 32 (d = 8); the
paper does not state the encoder's width or depth, so the defaults reuse the projector's
transformer width (384) and 4 heads, with 4 blocks and an MLP of 4x width.
"""

from __future__ import annotations

from einops import rearrange
from pydantic import Field
from torch import Tensor, nn

from proav_core import Component, ComponentParams, ConfigError, build_component
from proav_core.interfaces import ClipSpec
from proav_plugins.mdsa.spacetime import CHECKPOINT_BLOCKS_HELP, DividedSpaceTimeStack, sincos_positions


class TimesformerParams(ComponentParams):
    patch_size: int = Field(8, ge=1, description="d: spatial downsampling; H and W must be multiples (paper: 8)")
    dim: int = Field(384, ge=8, multiple_of=8, description="token width, also the output width")
    depth: int = Field(4, ge=0, description="divided space-time blocks")
    heads: int = Field(4, ge=1, description="attention heads (dim must be divisible)")
    mlp_dim: int = Field(1536, ge=1, description="hidden width of each block's MLP")
    stem: Component["pixel_stem"] = Field("patch_linear", description="pixels -> tokens (paper: patch_linear)")
    checkpoint_blocks: int = Field(0, ge=0, description=CHECKPOINT_BLOCKS_HELP)


class Timesformer3dEncoder(nn.Module):
    """(B, C_in, T, H, W) -> (B, dim, T, H/d, W/d)."""

    def __init__(self, patch_size: int, dim: int, depth: int, heads: int, mlp_dim: int, stem: object = "patch_linear",
                 checkpoint_blocks: int = 0, in_channels: int = 3, clip: ClipSpec | None = None):
        super().__init__()
        if dim % heads:
            raise ConfigError(f"encoder width dim={dim} is not divisible by heads={heads}", path="encoder.heads")
        if clip is not None and (clip.height % patch_size or clip.width % patch_size):
            raise ConfigError(
                f"clip {clip.height}x{clip.width} is not divisible by the encoder's patch_size={patch_size}; "
                "choose a patch size that divides [clip] height and width",
                path="encoder.patch_size",
            )
        self.out_dim, self.downsample = dim, patch_size
        self.stem = build_component(stem, "pixel_stem", in_channels=in_channels, dim=dim, patch=patch_size)
        self.blocks = DividedSpaceTimeStack(dim, depth, heads, mlp_dim, checkpoint_blocks)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C_in, T, H, W) -> (B, dim, T, H/d, W/d)."""
        x = self.stem(x)  # (B, D, T, H', W')
        _, d, t, h, w = x.shape
        x = x + sincos_positions(x, t, h, w, dim=d)  # (B, D, T, H', W')
        x = self.blocks(rearrange(x, "b d t h w -> b t h w d"))  # (B, T, H', W', D)
        return rearrange(x, "b t h w d -> b d t h w")  # (B, D, T, H', W')
