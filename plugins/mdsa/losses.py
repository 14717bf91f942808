"""Loss terms of MDSA training (appendix Eq. 10-12): L1 reconstruction (and the squared error
beside it, not in the paper), the hinge GAN losses
of the patch discriminators, and feature matching between their real and fake activations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def l1(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean absolute error over every element -> scalar."""
    return (x - x_hat).abs().mean()


def l2(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean squared error over every element -> scalar."""
    return (x - x_hat).square().mean()


def hinge_generator(fake_logits: Tensor) -> Tensor:
    """L_adv^(G) = -E[D(x_hat)] -> scalar."""
    return -fake_logits.mean()


def hinge_discriminator(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(x_hat))] -> scalar."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def feature_matching(real_feats: list[Tensor], fake_feats: list[Tensor]) -> Tensor:
    """Mean over the intermediate layers (all but the logits) of L1(fake, real.detach())."""
    pairs = list(zip(real_feats[:-1], fake_feats[:-1], strict=True))
    if not pairs:
        return fake_feats[-1].new_zeros(())
    return torch.stack([(f - r.detach()).abs().mean() for r, f in pairs]).mean()
