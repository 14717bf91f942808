"""`plane_decoder`: one modality's latent planes -> its clip (paper Eq. 7 and the
dual-modal decoder of Fig. 2a).

expand: each plane is broadcast along its missing axis and the three are summed,
    Z[t, h, w] = z_hw[h, w] + z_tw[t, w] + z_th[t, h]   -> (B, D, T, H', W');
forward: fixed 3-D sin-cos positions, `depth` divided space-time blocks (TimeSformer style,
like the encoder), then a pixel head (kind `pixel_head`: the paper-style linear map of each
token to its d x d pixels, `patch_linear`, or the convolutional upsampler `conv`) back to
(B, out_channels, T, H, W). The output is not squashed; the autoencoder clamps what it
hands out to [-1, 1]. The paper does not state decoder sizes; the defaults mirror the encoder.
"""

from __future__ import annotations

from einops import rearrange
from pydantic import Field
from torch import Tensor, nn

from proav_core import Component, ComponentParams, ConfigError, build_component
from proav_plugins.mdsa.spacetime import CHECKPOINT_BLOCKS_HELP, DividedSpaceTimeStack, sincos_positions


class PlaneDecoderParams(ComponentParams):
    depth: int = Field(4, ge=0, description="divided space-time blocks")
    heads: int = Field(4, ge=1, description="attention heads (the width comes from the autoencoder)")
    mlp_dim: int = Field(1536, ge=1, description="hidden width of each block's MLP")
    head: Component["pixel_head"] = Field("patch_linear", description="tokens -> pixels (paper: patch_linear)")
    checkpoint_blocks: int = Field(0, ge=0, description=CHECKPOINT_BLOCKS_HELP)


class PlaneDecoder(nn.Module):
    """(B, dim, T, H', W') volume -> (B, out_channels, T, H' * d, W' * d)."""

    def __init__(self, depth: int, heads: int, mlp_dim: int, head: object = "patch_linear", checkpoint_blocks: int = 0,
                 dim: int = 384,
                 out_channels: int = 3, downsample: int = 8, clip: object | None = None):
        super().__init__()
        if dim % heads or dim % 8:
            raise ConfigError(
                f"plane_decoder: width {dim} must be divisible by heads={heads} and by 8 (positions)",
                path="decoder.heads",
            )
        self.out_channels = out_channels
        self.blocks = DividedSpaceTimeStack(dim, depth, heads, mlp_dim, checkpoint_blocks)
        self.head = build_component(head, "pixel_head", dim=dim, out_channels=out_channels, patch=downsample)

    @staticmethod
    def expand(hw: Tensor, tw: Tensor, th: Tensor) -> Tensor:
        """hw (B, D, H', W'), tw (B, D, T, W'), th (B, D, T, H') -> (B, D, T, H', W') (Eq. 7)."""
        return hw[:, :, None, :, :] + tw[:, :, :, None, :] + th[:, :, :, :, None]  # (B, D, T, H', W')

    def forward(self, volume: Tensor) -> Tensor:
        """volume (B, D, T, H', W') -> (B, out_channels, T, H, W)."""
        _, d, t, h, w = volume.shape
        x = volume + sincos_positions(volume, t, h, w, dim=d)  # (B, D, T, H', W')
        x = self.blocks(rearrange(x, "b d t h w -> b t h w d"))  # (B, T, H', W', D)
        return self.head(rearrange(x, "b t h w d -> b d t h w"))  # (B, C, T, H, W)
