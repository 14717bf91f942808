"""PatchGAN discriminators for MDSA's adversarial and feature-matching losses (appendix Eq. 10).

`video_patch3d`: 3-D convolutions over (T, H, W); spatial stride 2 per layer, the time axis
kept (kernel 3, stride 1), so any T works. `audio_patch2d`: 2-D convolutions over the audio
representation as a spectrogram image: layout "spectrogram" joins the T mel images along W
(time, as `mel_frames` lays them out) into one H x (T * W) image, so the seams between frames
are judged too; layout "frames" judges each mel image on its own. Both return every layer's
activations; the last entry is the patch logits.
GroupNorm rather than BatchNorm, so batch 1 and multi-device runs behave the same.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from proav_core import ComponentParams
from proav_plugins.mdsa.pixel_heads import from_images, to_images


class PatchParams(ComponentParams):
    channels: int = Field(64, ge=1, description="width of the first layer, doubled per layer (capped at 8x)")
    layers: int = Field(3, ge=1, description="stride-2 layers: each halves H and W")


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, ch) if ch % min(32, ch) == 0 else 1, ch)


class _PatchStack(nn.Module):
    """Conv -> LeakyReLU, then (`layers` - 1) x [Conv stride 2 -> GroupNorm -> LeakyReLU],
    then a stride-1 conv and a 1-channel logit conv. `conv` is nn.Conv2d or nn.Conv3d."""

    def __init__(self, conv: type[nn.Module], in_channels: int, channels: int, layers: int, spatial_3d: bool):
        super().__init__()
        k, s = ((3, 4, 4), (1, 2, 2)) if spatial_3d else (4, 2)
        k1, p1 = ((3, 3, 3), 1) if spatial_3d else (3, 1)
        widths = [min(channels * 2**i, channels * 8) for i in range(layers + 1)]
        stages = [nn.Sequential(conv(in_channels, widths[0], k, s, 1), nn.LeakyReLU(0.2))]
        for i in range(1, layers):
            stages.append(nn.Sequential(conv(widths[i - 1], widths[i], k, s, 1), _norm(widths[i]), nn.LeakyReLU(0.2)))
        stages.append(nn.Sequential(conv(widths[layers - 1], widths[layers], k1, 1, p1), _norm(widths[layers]),
                                    nn.LeakyReLU(0.2)))
        stages.append(conv(widths[layers], 1, k1, 1, p1))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)  # (B, C_i, *spatial_i)
            feats.append(x)
        return feats


class AudioPatchParams(PatchParams):
    layout: Literal["spectrogram", "frames"] = Field(
        "spectrogram", description="spectrogram: frames joined along W (time) into one image; frames: each alone")


class VideoPatch3d(nn.Module):
    """(B, C, T, H, W) -> [features..., logits (B, 1, T, H / 2^layers, W / 2^layers)]."""

    def __init__(self, channels: int, layers: int, in_channels: int = 3):
        super().__init__()
        self.net = _PatchStack(nn.Conv3d, in_channels, channels, layers, spatial_3d=True)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.net(x)


class AudioPatch2d(nn.Module):
    """(B, C, T, H, W) -> [features..., logits]: "spectrogram" maps are (B, C_i, h_i, w_i) over
    the joined H x (T * W) image; "frames" maps are (B, C_i, T, h_i, w_i)."""

    def __init__(self, channels: int, layers: int, layout: str = "spectrogram", in_channels: int = 1):
        super().__init__()
        self.layout = layout
        self.net = _PatchStack(nn.Conv2d, in_channels, channels, layers, spatial_3d=False)

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = self.net(to_images(x, self.layout))  # [(B, C_i, h_i, T*w_i)] or [(B*T, C_i, h_i, w_i)]
        if self.layout == "spectrogram":
            return feats
        return [from_images(f, "frames", x.shape[2]) for f in feats]  # [(B, C_i, T, h_i, w_i)]
