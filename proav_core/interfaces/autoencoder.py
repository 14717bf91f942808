"""Interfaces of the autoencoder kinds (DESIGN "Data flow" 3, paper §3.1).

Planes. An autoencoder maps a clip to 2-D latent planes, one dict entry per plane, named
`<modality>_<axes>` in this canonical order (PLANE_NAMES):
    video_hw (B, C, H', W')   video_tw (B, C, T, W')   video_th (B, C, T, H')
    audio_hw (B, C, H', W')   audio_tw (B, C, T, W')   audio_th (B, C, T, H')
with H' = H / d and W' = W / d. A single-stream autoencoder has only its modality's three.
`PlaneShapes` maps each present plane name to its per-sample shape (C, a, b).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from torch import Tensor, nn

Modality = Literal["video", "audio"]
Axis = Literal["t", "h", "w"]
PLANE_NAMES = ("video_hw", "video_tw", "video_th", "audio_hw", "audio_tw", "audio_th")
PlaneShapes = dict[str, tuple[int, int, int]]
Planes = dict[str, Tensor]


@runtime_checkable
class Encoder(Protocol):
    """kind `encoder`: clip -> 3-D feature volume, spatially downsampled by d, T kept.

    forward: (B, C_in, T, H, W) float -> (B, out_dim, T, H/d, W/d)
    Factory context: in_channels: int, clip: ClipSpec.
    """

    out_dim: int
    downsample: int

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class PixelStem(Protocol):
    """kind `pixel_stem`: pixels -> tokens, frame by frame (the first layer of an encoder).

    forward: (B, C_in, T, H, W) -> (B, dim, T, H/p, W/p).
    Factory context: in_channels: int, dim: int, patch: int (p, the downsampling).
    """

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class PixelHead(Protocol):
    """kind `pixel_head`: tokens -> pixels, frame by frame (the last layer of a decoder).

    forward: (B, dim, T, H', W') -> (B, out_channels, T, H' p, W' p), unbounded values.
    Factory context: dim: int, out_channels: int, patch: int (p, the upsampling).
    """

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class Projector(Protocol):
    """kind `projector`: 3-D volume -> 2-D plane by collapsing one axis (paper Eq. 2).

    forward: (B, D_in, T, H', W') -> (B, out_dim, a, b), where the collapsed `axis` is
    "t" -> (H', W'), "h" -> (T, W'), "w" -> (T, H').
    Factory context: axis: Axis, in_dim: int, size: (T, H', W'), out_dim: int (what the
    autoencoder needs, e.g. 2C posterior moments).
    """

    out_dim: int

    def forward(self, u: Tensor) -> Tensor: ...


@runtime_checkable
class AttentionBlock(Protocol):
    """kind `attention`: transforms a pair of aligned streams (video, audio) of equal shape.

    Each stream is (B, D, *S) with S either a plane (S0, S1) or a volume (T, H', W'); when S
    has a temporal axis it is S[0]. A self-attention block acts on each stream on its own
    (separate weights per stream); a cross-modal block exchanges information between them.
    Either stream may be None (single-stream autoencoders); a cross-modal block then passes
    the other through unchanged. Output shapes equal input shapes.
    Factory context: dim: int (D), streams: tuple of the modalities present.
    """

    def forward(
        self, video: Tensor | None, audio: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None]: ...


@runtime_checkable
class Decoder(Protocol):
    """kind `decoder`: one modality's planes -> its clip.

    expand (paper Eq. 7): hw (B, D, H', W'), tw (B, D, T, W'), th (B, D, T, H') ->
        (B, D, T, H', W'), each plane broadcast along its missing axis, then summed.
    forward: (B, D, T, H', W') -> (B, out_channels, T, H, W).
    Factory context: dim: int, out_channels: int, clip: ClipSpec, downsample: int.
    """

    def expand(self, hw: Tensor, tw: Tensor, th: Tensor) -> Tensor: ...

    def forward(self, volume: Tensor) -> Tensor: ...


@runtime_checkable
class Discriminator(Protocol):
    """kind `discriminator`: (B, C, T, H, W) -> list of feature maps, the last being logits.

    The intermediate maps feed the feature-matching loss. Audio arrives as (B, 1, T, H, W).
    Factory context: in_channels: int, clip: ClipSpec.
    """

    def forward(self, x: Tensor) -> list[Tensor]: ...


@runtime_checkable
class PerceptualLoss(Protocol):
    """kind `perceptual`: (x, x_hat), both (B, C, T, H, W) in [-1, 1] -> scalar loss.

    Frozen: its parameters (if any) belong to no optimiser. Factory context: clip: ClipSpec.
    """

    def forward(self, x: Tensor, x_hat: Tensor) -> Tensor: ...


@runtime_checkable
class AutoencoderTrainingStep(Protocol):
    """The losses of one autoencoder training step, as library code for a generic loop.

    A batch is a dict in dataset layout: video (B, 3, T, H, W), audio (B, T, H, W), in [-1, 1]
    (the keys of the autoencoder's modalities are used). `step` is the 0-based optimisation
    step; the step object decides from it which terms are on (e.g. a `disc_start`).

    Optimisers. G owns `autoencoder.parameters()`; D owns `step.discriminators.parameters()`
    (an nn.Module, possibly without parameters: then build no D optimiser). The perceptual
    loss is frozen. `generator_loss`'s backward leaves the discriminators' gradients untouched
    and `discriminator_loss`'s backward leaves the autoencoder's untouched, so a loop may run
        loss, logs, recon = step.generator_loss(ae, batch, i)
        backward(loss); opt_g.step(); opt_g.zero_grad()
        d = step.discriminator_loss(batch, recon, i)
        if d is not None: backward(d[0]); opt_d.step(); opt_d.zero_grad()
    To run the discriminators through a Fabric/DDP wrapper, replace the attribute:
    `step.discriminators, opt_d = fabric.setup(step.discriminators, opt_d)` (the step calls
    it through forward; the generator side uses detached weights and needs no wrapper).
    """

    discriminators: nn.Module

    def generator_loss(
        self, autoencoder: nn.Module, batch: dict[str, Any], step: int
    ) -> tuple[Tensor, dict[str, float], dict[str, Tensor]]:
        """-> (scalar loss for G, logs {term: float}, recon {modality: tensor in dataset layout,
        with its graph, unclamped})."""
        ...

    def discriminator_loss(
        self, batch: dict[str, Any], recon: dict[str, Tensor], step: int
    ) -> tuple[Tensor, dict[str, float]] | None:
        """-> (scalar loss for D, logs), or None when no discriminator trains at this step."""
        ...


@runtime_checkable
class Autoencoder(Protocol):
    """kind `autoencoder`: clip <-> latent planes.

    The generator works in *generator space*: `encode_latents` returns planes scaled and
    bounded to [-latent_bound, latent_bound], the box of the reflected flow;
    `decode_latents` undoes the scaling and decodes. What the scale and bound are is the
    autoencoder's own documented choice.
    Optional: encode_modality(modality, x) -> that modality's planes in generator space, from
    that modality alone (video (B, 3, T, H, W) or audio (B, T, H, W)); conditional tasks
    (a2v, v2a) need it to encode their given side.
    Factory context: clip: ClipSpec.
    """

    modalities: tuple[Modality, ...]
    latent_channels: int
    latent_bound: float

    def plane_shapes(self) -> PlaneShapes: ...

    def encode_latents(self, video: Tensor | None, audio: Tensor | None) -> Planes:
        """video (B, 3, T, H, W), audio (B, T, H, W) -> planes in generator space."""
        ...

    def decode_latents(self, planes: Planes) -> tuple[Tensor | None, Tensor | None]:
        """Planes in generator space -> (video (B, 3, T, H, W), audio (B, T, H, W))."""
        ...

    def training_step(self) -> AutoencoderTrainingStep:
        """A new training-step object (losses, discriminators) for this autoencoder's config."""
        ...
