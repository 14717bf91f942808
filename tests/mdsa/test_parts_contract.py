"""Contracts of the encoder, projector, decoder, discriminator and autoencoder kinds
(proav_core.testing), parametrised over the live registry, and what is specific to the
built-ins."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core import ClipSpec, build_component
from proav_core.testing import check_component

from .helpers import TINY_MDSA

CLIP = ClipSpec(frames=5, fps=5.0, height=16, width=16)
PARTS = [s for s in proav_core.list_components() if s.kind in {"encoder", "projector", "decoder", "discriminator"}]
TINY = {"mdsa": TINY_MDSA}  # the autoencoder contract runs on small sizes


@pytest.mark.parametrize("spec", PARTS, ids=[f"{s.kind}:{s.name}" for s in PARTS])
def test_part_contract(spec):
    """Shapes for 3- and 1-channel clips, batch 1 and 2, gradients to every parameter; the
    projector mixes only its collapsed axis; the decoder's expand matches paper Eq. 7 on a
    hand-made example."""
    check_component(spec.kind, spec.name)


@pytest.mark.parametrize("name", [s.name for s in proav_core.list_components("autoencoder")])
def test_autoencoder_contract(name):
    check_component("autoencoder", name, **TINY.get(name, {}))


def test_timesformer_patch_size_must_divide_the_clip():
    with pytest.raises(proav_core.ConfigError, match="patch_size"):
        build_component({"name": "timesformer3d", "patch_size": 5}, "encoder", in_channels=3, clip=CLIP)


def test_audio_discriminator_layouts():
    x = torch.rand(2, 1, 4, 16, 16) * 2 - 1
    joined = build_component({"name": "audio_patch2d", "channels": 8, "layers": 2}, "discriminator", in_channels=1)
    frames = build_component({"name": "audio_patch2d", "channels": 8, "layers": 2, "layout": "frames"},
                             "discriminator", in_channels=1)
    assert joined(x)[-1].shape == (2, 1, 4, 4 * 4)  # one H x (T * W) spectrogram, downsampled 4x
    assert frames(x)[-1].shape == (2, 1, 4, 4, 4)  # each mel image on its own
    # "frames" never mixes frames; "spectrogram" sees across the seam between frames 0 and 1
    x2 = x.clone()
    x2[:, :, 1, :, :2] += 1.0
    assert torch.equal(frames(x)[-1][:, :, 0], frames(x2)[-1][:, :, 0])
    assert not torch.equal(joined(x)[-1][..., :4], joined(x2)[-1][..., :4])  # frame 0's columns
