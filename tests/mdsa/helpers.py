"""Shared helpers of the MDSA tests: tiny sizes, random clips, init perturbation."""

from __future__ import annotations

import torch

import proav_core
from proav_core import ClipSpec
from proav_core.testing import perturb_zero_params  # noqa: F401  (the tests' and the contracts' own)

TINY_CLIP = ClipSpec(frames=5, fps=5.0, height=16, width=16)  # odd T on purpose

# Keyword parameters of a tiny `mdsa` (width 16, patch 4 -> 4 x 4 planes).
TINY_MDSA = {
    "width": 16,
    "encoder": {"name": "timesformer3d", "patch_size": 4, "dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32},
    "projector": {"name": "plane_projector", "width": 16, "depth": 1, "heads": 2, "mlp_dim": 32},
    "decoder": {"name": "plane_decoder", "depth": 1, "heads": 2, "mlp_dim": 32},
    "attention": {
        "spatial": {"name": "spatial_selfattn", "heads": 2},
        "temporal": {"name": "mt_selfattn", "heads": 2},
        "cross": {"name": "gcm_attn", "heads": 2},
        "decoder": {"name": "bi_block_crossattn", "heads": 2, "block": [2, 2, 2]},
    },
    "loss": {
        "disc_start": 0,
        "video_discriminator": {"name": "video_patch3d", "channels": 8, "layers": 2},
        "audio_discriminator": {"name": "audio_patch2d", "channels": 8, "layers": 2},
    },
}


def tiny_mdsa(clip: ClipSpec = TINY_CLIP, **overrides):
    return proav_core.build("autoencoder", "mdsa", clip=clip, **(TINY_MDSA | overrides))


def random_clip(clip: ClipSpec = TINY_CLIP, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t, h, w = clip.frames, clip.height, clip.width
    return {"video": torch.rand(batch, 3, t, h, w, generator=g) * 2 - 1,
            "audio": torch.rand(batch, t, h, w, generator=g) * 2 - 1}
