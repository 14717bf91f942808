"""MDSA, the Multi-scale Dual-stream Spatio-temporal Autoencoder (paper §3.1), and its parts,
each registered on its own so a config can swap any one by name.

    encoder      timesformer3d       encoder.py
    projector    plane_projector     projector.py
    attention    spatial_selfattn, mt_selfattn          attention_self.py
                 gcm_attn, bi_block_crossattn           attention_cross.py
                 identity                               streams.py
    decoder      plane_decoder       decoder.py
    pixel_stem   patch_linear, conv  pixel_heads.py (the encoder's first layer)
    pixel_head   patch_linear, conv  pixel_heads.py (the decoder's last layer)
    discriminator video_patch3d, audio_patch2d           discriminators.py
    perceptual   none, vgg16_local   perceptual.py
    autoencoder  mdsa                autoencoder.py (posterior.py: latent box; training_step.py)
    metric       plane_mi            plane_mi.py
"""

from __future__ import annotations

from proav_core import NoParams, hookimpl
from proav_plugins.mdsa.attention_cross import BiBlockCrossAttention, BiBlockParams, CrossParams, GcmAttention
from proav_plugins.mdsa.attention_self import (
    MtParams,
    MultiScaleTemporalSelfAttention,
    SpatialParams,
    SpatialSelfAttention,
)
from proav_plugins.mdsa.autoencoder import Mdsa, MdsaOutput, MdsaParams
from proav_plugins.mdsa.decoder import PlaneDecoder, PlaneDecoderParams
from proav_plugins.mdsa.discriminators import AudioPatch2d, AudioPatchParams, PatchParams, VideoPatch3d
from proav_plugins.mdsa.encoder import Timesformer3dEncoder, TimesformerParams
from proav_plugins.mdsa.perceptual import NoPerceptual, Vgg16LocalParams, Vgg16Perceptual
from proav_plugins.mdsa.pixel_heads import (
    ConvHead,
    ConvParams,
    ConvStem,
    PatchLinearHead,
    PatchLinearParams,
    PatchLinearStem,
)
from proav_plugins.mdsa.plane_mi import PlaneMiParams, PlaneMutualInformation
from proav_plugins.mdsa.projector import PlaneProjector, PlaneProjectorParams
from proav_plugins.mdsa.streams import IdentityBlock
from proav_plugins.mdsa.training_step import MdsaLossParams, MdsaTrainingStep

__all__ = ["Mdsa", "MdsaLossParams", "MdsaOutput", "MdsaParams", "MdsaTrainingStep"]


@hookimpl
def proav_register_components(registry) -> None:
    add = registry.add
    add("encoder", "timesformer3d", Timesformer3dEncoder, TimesformerParams,
        "video-to-3D-latent encoder, divided space-time attention, H and W downsampled by d, T kept")
    add("projector", "plane_projector", PlaneProjector, PlaneProjectorParams,
        "3D -> 2D plane: transformer over each line of the collapsed axis, read out by an aggregation token")
    add("attention", "spatial_selfattn", SpatialSelfAttention, SpatialParams,
        "self-attention over a plane (within each frame of a volume), weights per stream")
    add("attention", "mt_selfattn", MultiScaleTemporalSelfAttention, MtParams,
        "MT-SelfAttn: temporal self-attention at scales 1, 1/2, 1/4, transposed-conv upsampling, summed (Eq. 4-5)")
    add("attention", "gcm_attn", GcmAttention, CrossParams,
        "GCM-Attn: audio <-> video cross-attention on the same plane, both directions, residual (Eq. 6)")
    add("attention", "bi_block_crossattn", BiBlockCrossAttention, BiBlockParams,
        "Bi-Block CrossAttn: audio <-> video cross-attention inside non-overlapping blocks (Eq. 8)")
    add("attention", "identity", IdentityBlock, NoParams, "no attention: both streams pass through unchanged")
    add("pixel_stem", "patch_linear", PatchLinearStem, PatchLinearParams,
        "one linear map per non-overlapping p x p patch (paper, ViT-style patch embedding)")
    add("pixel_stem", "conv", ConvStem, ConvParams,
        "3x3 conv, residual blocks and a stride-2 conv per halving of the resolution")
    add("pixel_head", "patch_linear", PatchLinearHead, PatchLinearParams,
        "one linear map per token to its p x p pixels (paper; nothing crosses patch borders)")
    add("pixel_head", "conv", ConvHead, ConvParams,
        "residual blocks, nearest upsampling and a 3x3 conv per doubling of the resolution")
    add("decoder", "plane_decoder", PlaneDecoder, PlaneDecoderParams,
        "expand each plane along its missing axis and sum (Eq. 7), space-time blocks, unpatchify to pixels")
    add("discriminator", "video_patch3d", VideoPatch3d, PatchParams, "3-D PatchGAN over (T, H, W); T kept")
    add("discriminator", "audio_patch2d", AudioPatch2d, AudioPatchParams,
        "2-D PatchGAN over the audio representation as a spectrogram (or each mel image)")
    add("perceptual", "none", NoPerceptual, NoParams, "no perceptual term (0): nothing to download offline")
    add("perceptual", "vgg16_local", Vgg16Perceptual, Vgg16LocalParams,
        "LPIPS-style VGG16 feature distance from a local torchvision weights file")
    add("autoencoder", "mdsa", Mdsa, MdsaParams,
        "MDSA: dual-stream projected autoencoder, 3 KL latent planes per modality, multi-scale attention")
    add("metric", "plane_mi", PlaneMutualInformation, PlaneMiParams,
        "pairwise mutual information between the three latent planes, nats (appendix 5.4)")
