"""One interface per component kind. `KINDS` maps each kind to its Protocol.

A plugin's component satisfies its kind's Protocol; the shared contract tests check every
registered component against it.
"""

from proav_core.interfaces.autoencoder import (
    PLANE_NAMES,
    AttentionBlock,
    Autoencoder,
    AutoencoderTrainingStep,
    Axis,
    Decoder,
    Discriminator,
    Encoder,
    Modality,
    PerceptualLoss,
    PixelHead,
    PixelStem,
    Planes,
    PlaneShapes,
    Projector,
)
from proav_core.interfaces.data import AudioRepresentation, ClipSample, ClipSpec, Dataset, Split
from proav_core.interfaces.generation import (
    Conditioner,
    Generator,
    Objective,
    PriorEstimator,
    Sampler,
    Stacker,
    StepCallback,
    VelocityFn,
)
from proav_core.interfaces.metrics import FeatureExtractor, Metric, MetricResult, Role

KINDS: dict[str, type] = {
    "dataset": Dataset,
    "audio_repr": AudioRepresentation,
    "encoder": Encoder,
    "pixel_stem": PixelStem,
    "projector": Projector,
    "attention": AttentionBlock,
    "decoder": Decoder,
    "pixel_head": PixelHead,
    "autoencoder": Autoencoder,
    "discriminator": Discriminator,
    "perceptual": PerceptualLoss,
    "stacker": Stacker,
    "conditioner": Conditioner,
    "generator": Generator,
    "prior": PriorEstimator,
    "objective": Objective,
    "sampler": Sampler,
    "metric": Metric,
    "extractor": FeatureExtractor,
}

__all__ = [
    "KINDS",
    "PLANE_NAMES",
    "AttentionBlock",
    "AudioRepresentation",
    "Autoencoder",
    "AutoencoderTrainingStep",
    "Axis",
    "ClipSample",
    "ClipSpec",
    "Conditioner",
    "Dataset",
    "Decoder",
    "Discriminator",
    "Encoder",
    "FeatureExtractor",
    "Generator",
    "Metric",
    "MetricResult",
    "Modality",
    "Objective",
    "PerceptualLoss",
    "PixelHead",
    "PixelStem",
    "PlaneShapes",
    "PriorEstimator",
    "Planes",
    "Projector",
    "Role",
    "Sampler",
    "Split",
    "Stacker",
    "StepCallback",
    "VelocityFn",
]
