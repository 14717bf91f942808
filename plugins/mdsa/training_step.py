"""MDSA's training step as library code (appendix Eq. 10-12), driven by a generic Fabric loop.

    L = sum_m w_m * ( 4.0 * L1 [+ l2_weight * L2] + L_perc
                      + [stage 2] ( 6e-6 * KL + gamma * (L_adv^G + L_fm) ) )

with w_m = 0.5 per modality (`modality_weight`; `modality_weights` sets one modality's apart,
e.g. {audio = 1.0}: with Adam only the parameters the modalities share, MDSA's attention
modules, see the balance move). `l2_weight` adds a squared-error term beside the L1 (not in the
paper, 0 by default): the L1 gradient is the same for every pixel whatever its error, so the
many background pixels outvote a small object's few; the squared error pulls hardest on the
largest errors (measured on the demo's clips: 23.5 -> 26.2 dB held-out at 1100 steps, the
objects' colours right; docs/quality.md).

Stage 1 (step < disc_start): reconstruction (+ perceptual) only. Stage 2 (step >= disc_start):
KL, adversarial (hinge) and feature-matching terms switch on, and the discriminators train on
their own loss. Table 5's "no KL" / "no adversarial" rows set
kl_weight = 0 / adversarial_weight = feature_matching_weight = 0 (then no discriminator is
built and `discriminator_loss` always returns None).

Optimisers. G owns autoencoder.parameters(); D owns step.discriminators.parameters() (build
no D optimiser when that is empty). `generator_loss` runs the discriminators with detached
weights, so its backward never touches D's gradients; `discriminator_loss` sees only detached
reconstructions, so its backward never touches G's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from proav_core import Component, ComponentParams, build_component
from proav_core.interfaces import ClipSpec
from proav_core.metrics.psnr import psnr
from proav_plugins.mdsa.losses import feature_matching, hinge_discriminator, hinge_generator, l1, l2

IN_CHANNELS = {"video": 3, "audio": 1}


class MdsaLossParams(ComponentParams):
    """`[model.autoencoder.loss]`."""

    modality_weight: float = Field(0.5, ge=0, description="w_m, the weight of each modality (paper: 0.5)")
    modality_weights: dict[Literal["video", "audio"], Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="w_m of the modalities named here in place of modality_weight, e.g. "
        "{audio = 1.0} to weigh the mel twice the video")
    l1_weight: float = Field(4.0, ge=0, description="weight of the pixel L1 term (paper: 4.0)")
    l2_weight: float = Field(0.0, ge=0, description="weight of a squared-error term beside L1 (paper: 0); it pulls "
                             "hardest on the largest errors, a small object's colour and edges")
    kl_weight: float = Field(6e-6, ge=0, description="weight of the KL term from stage 2 on (paper: 6e-6; 0 = Table 5 'w/o KL')")
    perceptual_weight: float = Field(1.0, ge=0, description="weight of the perceptual term")
    adversarial_weight: float = Field(1.0, ge=0, description="gamma after disc_start (paper: 1.0; 0 with feature_matching_weight 0 = 'w/o adversarial')")
    feature_matching_weight: float = Field(1.0, ge=0, description="weight of discriminator feature matching")
    disc_start: int = Field(10000, ge=0, description="first step of stage 2: KL, adversarial, feature matching (not stated in the paper)")
    video_discriminator: Component["discriminator"] = Field("video_patch3d", description="discriminator of the video stream")
    audio_discriminator: Component["discriminator"] = Field("audio_patch2d", description="discriminator of the audio stream")
    perceptual: Component["perceptual"] = Field("none", description="perceptual loss (none: no weights offline)")

    def weight_of(self, modality: str) -> float:
        """w_m of one modality: its entry in modality_weights, else modality_weight."""
        return self.modality_weights.get(modality, self.modality_weight)  # type: ignore[call-overload]


class DiscriminatorSet(nn.ModuleDict):
    """One discriminator per modality (a ModuleDict keyed by modality, possibly empty);
    forward: {m: (B, C, T, H, W)} -> {m: [features..., logits]}."""

    def forward(self, inputs: dict[str, Tensor]) -> dict[str, list[Tensor]]:
        return {m: self[m](x) for m, x in inputs.items()}


def _unwrap(module: nn.Module) -> nn.Module:
    while hasattr(module, "module") and isinstance(module.module, nn.Module):  # Fabric / DDP wrappers
        module = module.module
    return module


def with_channel(batch: dict[str, Any], modalities: tuple[str, ...]) -> dict[str, Tensor]:
    """Dataset layout -> stream layout: video (B, 3, T, H, W); audio (B, T, H, W) -> (B, 1, T, H, W)."""
    return {m: batch[m].unsqueeze(1) if m == "audio" else batch[m] for m in modalities}


class MdsaTrainingStep(nn.Module):
    """Owns the discriminators (`self.discriminators`, a DiscriminatorSet, possibly empty) and
    the frozen perceptual loss. `step` arguments are the 0-based optimisation step."""

    def __init__(self, params: MdsaLossParams, modalities: tuple[str, ...], clip: ClipSpec):
        super().__init__()
        self.params, self.modalities = params, tuple(modalities)
        nets = {}
        if params.adversarial_weight > 0 or params.feature_matching_weight > 0:
            sections = {"video": params.video_discriminator, "audio": params.audio_discriminator}
            nets = {m: build_component(sections[m], in_channels=IN_CHANNELS[m], clip=clip) for m in self.modalities}
        self.discriminators = DiscriminatorSet(nets)
        self.perceptual = build_component(params.perceptual, clip=clip)
        if isinstance(self.perceptual, nn.Module):
            self.perceptual.requires_grad_(False)  # frozen: no optimiser owns it

    @property
    def has_discriminators(self) -> bool:
        return len(_unwrap(self.discriminators)) > 0

    def stage(self, step: int) -> int:
        """1 before disc_start, 2 from it on."""
        return 2 if step >= self.params.disc_start else 1

    def _frozen_discriminators(self, inputs: dict[str, Tensor]) -> dict[str, list[Tensor]]:
        """Discriminator activations with detached weights: gradients reach the inputs only."""
        module = _unwrap(self.discriminators)
        weights = {k: v.detach() for k, v in module.state_dict(keep_vars=True).items()}
        return torch.func.functional_call(module, weights, (inputs,))

    def generator_loss(self, autoencoder: nn.Module, batch: dict[str, Any], step: int
                       ) -> tuple[Tensor, dict[str, float], dict[str, Tensor]]:
        """batch: video (B, 3, T, H, W), audio (B, T, H, W) in [-1, 1] -> (loss, logs, recon).

        Runs autoencoder(video, audio) (posterior samples in train mode). recon holds the raw
        reconstructions in dataset layout (video (B, 3, T, H, W), audio (B, T, H, W)), with
        their graph, for `discriminator_loss` and logging. logs: floats per term and modality.
        """
        p, stage2 = self.params, self.stage(step) == 2
        targets = with_channel(batch, self.modalities)
        out = autoencoder(**{m: batch[m] for m in self.modalities})  # MdsaOutput
        fakes = out.streams  # {m: (B, C, T, H, W)}
        adversarial = stage2 and self.has_discriminators
        if adversarial:
            both = self._frozen_discriminators({m: torch.cat([targets[m], fakes[m]]) for m in self.modalities})
        total, logs = fakes[self.modalities[0]].new_zeros(()), {}
        for m in self.modalities:
            x, x_hat = targets[m], fakes[m]
            terms = {"l1": l1(x, x_hat)}
            if p.l2_weight > 0:
                terms["l2"] = l2(x, x_hat)
            if p.perceptual_weight > 0:
                terms["perceptual"] = self.perceptual(x, x_hat)
            term = (p.l1_weight * terms["l1"] + p.l2_weight * terms.get("l2", 0.0)
                    + p.perceptual_weight * terms.get("perceptual", 0.0))
            if stage2:
                terms["kl"] = sum(out.posteriors[f"{m}_{ax}"].kl() for ax in ("hw", "tw", "th")).mean()
                term = term + p.kl_weight * terms["kl"]
            if adversarial:
                n = x.shape[0]
                real_feats, fake_feats = [f[:n] for f in both[m]], [f[n:] for f in both[m]]
                terms["adv"] = hinge_generator(fake_feats[-1])
                terms["fm"] = feature_matching(real_feats, fake_feats)
                term = term + p.adversarial_weight * terms["adv"] + p.feature_matching_weight * terms["fm"]
            total = total + p.weight_of(m) * term
            logs |= {f"{m}/{k}": float(v.detach()) for k, v in terms.items()}
            logs[f"{m}/psnr"] = float(psnr(x_hat.detach().clamp(-1, 1), x).mean())
        logs["loss"], logs["stage"] = float(total.detach()), float(self.stage(step))
        recon = {m: fakes[m].squeeze(1) if m == "audio" else fakes[m] for m in self.modalities}
        return total, logs, recon

    def discriminator_loss(self, batch: dict[str, Any], recon: dict[str, Tensor], step: int
                           ) -> tuple[Tensor, dict[str, float]] | None:
        """Hinge loss of each modality's discriminator on real `batch` vs detached `recon`
        (layouts as generator_loss). None in stage 1 and when no discriminator is built."""
        if self.stage(step) == 1 or not self.has_discriminators:
            return None
        real = with_channel(batch, self.modalities)
        fake = with_channel({m: recon[m].detach() for m in self.modalities}, self.modalities)
        feats = self.discriminators({m: torch.cat([real[m], fake[m]]) for m in self.modalities})
        total, logs = None, {}
        for m in self.modalities:
            n = real[m].shape[0]
            logits = feats[m][-1]  # (2B, 1, ...)
            loss = hinge_discriminator(logits[:n], logits[n:])
            total = self.params.weight_of(m) * loss + (0.0 if total is None else total)
            logs |= {f"{m}/d_loss": float(loss.detach()), f"{m}/d_real": float(logits[:n].mean().detach()),
                     f"{m}/d_fake": float(logits[n:].mean().detach())}
        logs["d_loss"] = float(total.detach())
        return total, logs
