"""Pixel stems and heads: where MDSA's token grids meet pixels (each a registered plugin).

A stem (kind `pixel_stem`) turns each frame into a grid of tokens, H and W downsampled by
`patch`; a head (kind `pixel_head`) turns the decoder's token grid back into pixels. Both
work frame by frame, time is the transformer's business; except that the convolutional pair
can lay the frames side by side along W first (`layout = "spectrogram"`), for a stream whose
frames are consecutive chunks of one image, as `mel_frames` audio is: there a frame's last
column and the next frame's first are neighbours in time, and a kernel that stops at the frame
border leaves a seam (measured on the demo: the per-frame conv head's mel reconstruction rises
by 3-4 dB at each frame start through a bell's decay, an onset that is not in the clip).

    patch_linear (stem)  one linear map per non-overlapping p x p patch (paper, ViT style)
    patch_linear (head)  one linear map per token to its p x p pixels; nothing crosses a
                         patch border, so a young model draws visible p x p blocks
    conv (stem)          3x3 conv, then per factor of 2: residual blocks and a stride-2 conv
    conv (head)          1x1 conv, then per factor of 2: residual blocks, nearest-neighbour
                         upsampling and a 3x3 conv; residual blocks and a 3x3 conv at full size;
                         with image_mean = "linear", plus a linear map of the image's mean
                         token added to every pixel

The convolutional pair is what lets a CPU-size MDSA reconstruct (measured in docs/quality.md,
"Autoencoder"): edges, sub-patch positions and textures are drawn by overlapping kernels
instead of one independent linear map per patch. Widths double per halving of the
resolution, from `channels` at full size, capped at `max_channels`.

The conv head's GroupNorms normalise each image over its pixels, so what is constant over a
frame (a wall's colour) reaches the last conv only through differences between channels: the
demo's autoencoder drew syncshapes' coloured walls grey (held-out wall saturation 0.10 against
the clips' 0.25) and the generator's samples with them. `image_mean = "linear"` gives that a
direct path, a zero-initialised linear map from the image's mean token to a value per output
channel: 0.22 and +1.4 dB video PSNR at the same steps (docs/quality.md, "Grey walls").
"""

from __future__ import annotations

import math
from typing import Literal

from einops import rearrange
from pydantic import Field
from torch import Tensor, nn

from proav_core import ComponentParams, ConfigError


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups that divide `channels` (batch-size independent)."""
    groups = math.gcd(8, channels)
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm x))))), channels kept: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(group_norm(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
                                  group_norm(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # (N, C, H, W)


def _levels(patch: int, what: str) -> int:
    """log2(patch), or a ConfigError naming the key when patch is not a power of two."""
    levels = int(round(math.log2(patch))) if patch >= 1 else -1
    if levels < 0 or 2**levels != patch:
        raise ConfigError(f"{what}: the convolutional {what.split('.')[-1]} halves or doubles the resolution per "
                          f"level, so the patch (downsampling) must be a power of two; got {patch}",
                          path=f"model.autoencoder.{what}")
    return levels


def _widths(channels: int, max_channels: int, levels: int) -> list[int]:
    """Width at full size, after one halving, ..., after `levels` halvings."""
    return [min(channels * 2**i, max_channels) for i in range(levels + 1)]


class PatchLinearParams(ComponentParams):
    """The paper's linear patch embedding / projection (no parameters of its own)."""


class PatchLinearStem(nn.Module):
    """(B, C_in, T, H, W) -> (B, dim, T, H/p, W/p): a (1, p, p) convolution with stride p."""

    def __init__(self, in_channels: int = 3, dim: int = 384, patch: int = 8):
        super().__init__()
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=(1, patch, patch), stride=(1, patch, patch))

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)  # (B, D, T, H', W')


class PatchLinearHead(nn.Module):
    """(B, dim, T, H', W') -> (B, C_out, T, H' p, W' p): one linear map per token, unpatchified."""

    def __init__(self, dim: int = 384, out_channels: int = 3, patch: int = 8):
        super().__init__()
        self.patch = patch
        self.proj = nn.Linear(dim, out_channels * patch * patch)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(rearrange(x, "b d t h w -> b t h w d"))  # (B, T, H', W', C*p*p)
        return rearrange(x, "b t h w (c i j) -> b c t (h i) (w j)", i=self.patch, j=self.patch)  # (B, C, T, H, W)


class ConvParams(ComponentParams):
    channels: int = Field(32, ge=8, multiple_of=8, description="width at full resolution (doubled per halving)")
    max_channels: int = Field(128, ge=8, multiple_of=8, description="cap on the width of the coarser levels")
    blocks: int = Field(1, ge=0, description="residual blocks per resolution level")
    layout: Literal["frames", "spectrogram"] = Field(
        "frames", description="frames: each frame alone (video); spectrogram: frames joined along W (time) into one "
                              "image, so kernels cross frame borders (a mel_frames audio stream)")
    image_mean: Literal["none", "linear"] = Field(
        "none", description="head only: linear adds a zero-initialised linear map of each image's mean token to all "
                            "its pixels, a direct path for what is constant over a frame (a wall's colour)")


def to_images(x: Tensor, layout: str) -> Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W) for "frames", (B, C, H, T*W) for "spectrogram"."""
    if layout == "spectrogram":
        return rearrange(x, "b c t h w -> b c h (t w)")
    return rearrange(x, "b c t h w -> (b t) c h w")


def from_images(y: Tensor, layout: str, t: int) -> Tensor:
    """to_images undone at the images' own size: -> (B, C', T, H', W')."""
    if layout == "spectrogram":
        return rearrange(y, "b c h (t w) -> b c t h w", t=t)
    return rearrange(y, "(b t) c h w -> b c t h w", t=t)


class ConvStem(nn.Module):
    """(B, C_in, T, H, W) -> (B, dim, T, H/p, W/p), frame by frame or over the joined frames (`layout`)."""

    def __init__(self, channels: int, max_channels: int, blocks: int, layout: str = "frames", in_channels: int = 3,
                 dim: int = 384, patch: int = 8, image_mean: str = "none"):
        super().__init__()
        if image_mean != "none":
            key = "model.autoencoder.encoder.stem.image_mean"
            raise ConfigError(f"{key}: an option of the conv pixel head only (a stem has no pixels to add to); "
                              "remove it from the stem's section", path=key)
        self.layout = layout
        levels = _levels(patch, "encoder.stem")
        widths = _widths(channels, max_channels, levels)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
        for i in range(levels):
            layers += [ResBlock(widths[i]) for _ in range(blocks)]
            layers.append(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1))  # H, W halved
        layers += [ResBlock(widths[-1]) for _ in range(blocks)]
        layers += [group_norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        y = self.net(to_images(x, self.layout))  # (B*T, D, H', W') or (B, D, H', T*W')
        return from_images(y, self.layout, x.shape[2])  # (B, D, T, H', W')


class ConvHead(nn.Module):
    """(B, dim, T, H', W') -> (B, C_out, T, H' p, W' p), frame by frame or over the joined frames (`layout`)."""

    def __init__(self, channels: int, max_channels: int, blocks: int, layout: str = "frames", dim: int = 384,
                 out_channels: int = 3, patch: int = 8, image_mean: str = "none"):
        super().__init__()
        self.layout = layout
        self.mean_path = None
        if image_mean == "linear":  # zero-initialised: the head starts as without it
            self.mean_path = nn.Linear(dim, out_channels)
            nn.init.zeros_(self.mean_path.weight)
            nn.init.zeros_(self.mean_path.bias)
        levels = _levels(patch, "decoder.head")
        widths = _widths(channels, max_channels, levels)[::-1]  # coarsest first
        layers: list[nn.Module] = [nn.Conv2d(dim, widths[0], 1)]
        for i in range(levels):
            layers += [ResBlock(widths[i]) for _ in range(blocks)]
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(widths[i], widths[i + 1], 3, padding=1)]  # H, W doubled
        layers += [ResBlock(widths[-1]) for _ in range(blocks)]
        layers += [group_norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        images = to_images(x, self.layout)  # (B*T, D, H', W') or (B, D, H', T*W')
        y = self.net(images)  # (B*T, C_out, H, W) or (B, C_out, H, T*W)
        if self.mean_path is not None:
            y = y + rearrange(self.mean_path(images.mean((2, 3))), "n c -> n c 1 1")  # one value per image
        return from_images(y, self.layout, x.shape[2])  # (B, C_out, T, H, W)
