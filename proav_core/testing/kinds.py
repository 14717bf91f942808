"""kind -> its contract check: `check(name, **params)` raising AssertionError naming the
component and what broke. Every kind of proav_core.interfaces.KINDS has one."""

from __future__ import annotations

from collections.abc import Callable

from proav_core.testing.autoencoder import (
    check_attention,
    check_autoencoder,
    check_decoder,
    check_discriminator,
    check_encoder,
    check_perceptual,
    check_pixel_head,
    check_pixel_stem,
    check_projector,
)
from proav_core.testing.data_metrics import check_audio_repr, check_dataset, check_extractor, check_metric
from proav_core.testing.generation import (
    check_conditioner,
    check_generator,
    check_objective,
    check_prior,
    check_sampler,
    check_stacker,
)

CONTRACTS: dict[str, Callable[..., None]] = {
    "dataset": check_dataset,
    "audio_repr": check_audio_repr,
    "encoder": check_encoder,
    "pixel_stem": check_pixel_stem,
    "projector": check_projector,
    "attention": check_attention,
    "decoder": check_decoder,
    "pixel_head": check_pixel_head,
    "autoencoder": check_autoencoder,
    "discriminator": check_discriminator,
    "perceptual": check_perceptual,
    "stacker": check_stacker,
    "conditioner": check_conditioner,
    "generator": check_generator,
    "prior": check_prior,
    "objective": check_objective,
    "sampler": check_sampler,
    "metric": check_metric,
    "extractor": check_extractor,
}
