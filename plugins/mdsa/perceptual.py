"""Perceptual losses (kind `perceptual`), the L_perc term of appendix Eq. 10.

`none` (the default): always 0, because no pretrained weights can be downloaded here.
`vgg16_local`: LPIPS-style distance on the frozen VGG16 `features` of a local torchvision
state-dict file (e.g. vgg16-397923af.pth, or a file holding only the `features.*` tensors).
Frames are judged one by one; a 1-channel audio image is repeated to RGB. At the five taps
relu1_2 ... relu5_3 the features are unit-normalised over channels and their squared
difference averaged; the taps are summed (no learned LPIPS channel weights: those would be
another download). Taps whose input is smaller than 2 x 2 are skipped, so tiny frames work.
"""

from __future__ import annotations

from pathlib import Path

import torch
from einops import rearrange
from pydantic import Field
from torch import Tensor, nn

from proav_core import ComponentParams, MissingWeightsError
from proav_core.errors import load_error_reason

VGG16_TAPS = (3, 8, 15, 22, 29)  # ReLU indices in torchvision's vgg16().features
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class NoPerceptual(nn.Module):
    """`none`: L_perc = 0."""

    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: Tensor, x_hat: Tensor) -> Tensor:
        return x_hat.new_zeros(())


class Vgg16LocalParams(ComponentParams):
    weights: str = Field(description="path of a local torchvision VGG16 state dict (.pth); nothing is downloaded")


def _vgg16_features() -> nn.Sequential:
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["D"])[: VGG16_TAPS[-1] + 1]


def load_vgg16_features(path: str | Path) -> nn.Sequential:
    """VGG16 conv features (up to relu5_3) from a local state-dict file, frozen, eval mode."""
    path = Path(path).expanduser()
    where = "model.autoencoder.loss.perceptual.weights"
    if not path.is_file():
        raise MissingWeightsError(
            f"VGG16 weights file {path} does not exist; save torchvision's vgg16 state dict there "
            f"(vgg16-397923af.pth) or set {where} to the file, or use perceptual = \"none\""
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise MissingWeightsError(f"cannot read VGG16 weights {path}: {load_error_reason(err)}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    feats = {k.removeprefix("features."): v for k, v in state.items()
             if k.startswith("features.") or k.split(".")[0].isdigit()}
    net = _vgg16_features()
    wanted = net.state_dict().keys()
    missing = [k for k in wanted if k not in feats]
    if missing:
        raise MissingWeightsError(f"{path} is not a VGG16 state dict: missing {', '.join(missing[:4])} ...")
    net.load_state_dict({k: feats[k] for k in wanted})
    return net.eval().requires_grad_(False)


class Vgg16Perceptual(nn.Module):
    """x, x_hat (B, C, T, H, W) in [-1, 1], C in {1, 3} -> scalar distance (mean over frames)."""

    def __init__(self, weights: str):
        super().__init__()
        self.features = load_vgg16_features(weights)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> Vgg16Perceptual:
        super().train(mode)
        self.features.eval()  # frozen network: always eval
        return self

    def _frames(self, x: Tensor) -> Tensor:
        x = rearrange(x, "b c t h w -> (b t) c h w")  # (B*T, C, H, W)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # (B*T, 3, H, W)
        return ((x + 1) / 2 - self.mean) / self.std  # ImageNet normalisation

    def _taps(self, x: Tensor) -> list[Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            if isinstance(layer, nn.MaxPool2d) and min(x.shape[-2:]) < 2:
                break
            x = layer(x)  # (N, C_i, H_i, W_i)
            if i in VGG16_TAPS:
                out.append(x / (x.norm(dim=1, keepdim=True) + 1e-10))
        return out

    def forward(self, x: Tensor, x_hat: Tensor) -> Tensor:
        taps = zip(self._taps(self._frames(x)), self._taps(self._frames(x_hat)), strict=True)
        return sum((a - b).pow(2).mean() for a, b in taps)  # scalar
