"""`mdsa`: the Multi-scale Dual-stream Spatio-temporal Autoencoder (paper §3.1, Fig. 2a).

Per modality m (video (B, 3, T, H, W); audio representation (B, T, H, W) -> (B, 1, T, H, W)):
  encoder_m               -> u (B, D_e, T, H', W')                               Eq. 1
  projector_{m,axis} x 3  -> moments (B, 2C, a, b) -> KL posterior per plane     Eq. 2
The posterior means (soft-clipped, see posterior.py) are the latent planes the generator
models. Decoding reads the paper's "multi-scale attention" as acting on those latents: each
plane is lifted to `width` channels (1x1 linear + fixed 2-D positions), then
  attention.spatial  on z_hw;  attention.temporal on z_tw and z_th (one block each);
  attention.cross    between the same plane of audio and video (one block per plane);
  decoder_m.expand   -> (B, width, T, H', W') per modality                        Eq. 7
  attention.decoder  between the two volumes (Bi-Block CrossAttn)                 Eq. 8
  decoder_m          -> (B, C_m, T, H, W).
Every part is built by registry name from the config, so `attention.temporal = "identity"`
removes MT-SelfAttn. `modalities = ["video"]` / `["audio"]` give MDSA-V / MDSA-A (Table 6).
Both streams use `encoder` and `decoder` unless `stream_encoders` / `stream_decoders` give one
stream its own (e.g. a wider pixel head for the mel); the paper does not size them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator
from torch import Tensor, nn

from proav_core import Component, ComponentParams, ConfigError, build_component
from proav_core.attention_streams import MODALITIES
from proav_core.interfaces import ClipSpec, PlaneShapes, Planes
from proav_plugins.mdsa.posterior import DiagonalGaussian
from proav_plugins.mdsa.spacetime import sincos_positions
from proav_plugins.mdsa.training_step import IN_CHANNELS, MdsaLossParams, MdsaTrainingStep

COLLAPSED = {"hw": "t", "tw": "h", "th": "w"}  # plane -> the axis its projector collapses


class MdsaAttentionParams(ComponentParams):
    """`[model.autoencoder.attention]`: one registry name per role ("identity" removes it)."""

    spatial: Component["attention"] = Field("spatial_selfattn", description="on z_hw of each stream")
    temporal: Component["attention"] = Field("mt_selfattn", description="on z_tw and z_th (one block each)")
    cross: Component["attention"] = Field("gcm_attn", description="audio <-> video, the same plane (one block per plane)")
    decoder: Component["attention"] = Field("bi_block_crossattn", description="audio <-> video on the expanded volumes")


class MdsaParams(ComponentParams):
    modalities: list[Literal["video", "audio"]] = Field(
        ["video", "audio"], min_length=1, description='streams: ["video", "audio"] = MDSA, ["video"] = MDSA-V, ["audio"] = MDSA-A')
    latent_channels: int = Field(4, ge=1, description="C, channels of every latent plane (paper: 4)")
    width: int = Field(384, ge=8, multiple_of=8, description="feature width of the latent-side attention and the decoders")
    latent_clip: float = Field(3.0, gt=0, description="b: posterior means are b * tanh(mean / b)")
    latent_scale: float = Field(1.0, gt=0, description="s: generator space = s * mean, so latent_bound = s * b")
    encoder: Component["encoder"] = Field("timesformer3d", description="video-to-3D-latent encoder (one per stream)")
    projector: Component["projector"] = Field("plane_projector", description="3D -> 2D projector (three per stream)")
    decoder: Component["decoder"] = Field("plane_decoder", description="expand-and-sum + decoder (one per stream)")
    stream_encoders: dict[Literal["video", "audio"], Component["encoder"]] = Field(
        {}, description="a modality's own encoder in place of `encoder` (a whole section: parameters left out take "
                        "the component's defaults, not `encoder`'s); its downsampling must equal the other stream's; "
                        "unused while that modality is not among `modalities` (so a one-modality ablation runs on a "
                        "base that sizes both)")
    stream_decoders: dict[Literal["video", "audio"], Component["decoder"]] = Field(
        {}, description="a modality's own decoder in place of `decoder` (a whole section, unused without that "
                        "modality, as for stream_encoders)")
    attention: MdsaAttentionParams = Field(default_factory=MdsaAttentionParams, description="attention block per role")
    loss: MdsaLossParams = Field(default_factory=MdsaLossParams, description="training losses and discriminators")

    @field_validator("modalities")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"modalities must not repeat, got {value}")
        return value


@dataclass
class MdsaOutput:
    """streams: {m: (B, C_m, T, H, W)} raw reconstructions (unclamped); posteriors and
    latents (the decoded z, (B, C, a, b)) keyed by plane name."""

    streams: dict[str, Tensor]
    posteriors: dict[str, DiagonalGaussian]
    latents: Planes


class Mdsa(nn.Module):
    """The `mdsa` autoencoder; implements proav_core.interfaces.Autoencoder."""

    def __init__(self, modalities: list[str], latent_channels: int, width: int, latent_clip: float,
                 latent_scale: float, encoder: Any, projector: Any, decoder: Any,
                 attention: MdsaAttentionParams, loss: MdsaLossParams, stream_encoders: dict[str, Any] | None = None,
                 stream_decoders: dict[str, Any] | None = None, clip: ClipSpec = ClipSpec()):
        super().__init__()
        self.modalities = tuple(m for m in MODALITIES if m in modalities)
        self.latent_channels, self.width, self.clip = latent_channels, width, clip
        self.latent_clip, self.latent_scale = latent_clip, latent_scale
        self.latent_bound = latent_scale * latent_clip
        self.loss_params = loss
        stream_encoders, stream_decoders = stream_encoders or {}, stream_decoders or {}
        self.encoders = nn.ModuleDict({m: build_component(stream_encoders.get(m, encoder), in_channels=IN_CHANNELS[m],
                                                          clip=clip) for m in self.modalities})
        downsampling = {m: int(e.downsample) for m, e in self.encoders.items()}
        if len(set(downsampling.values())) > 1:
            raise ConfigError(
                f"the streams' encoders downsample by {downsampling}: both modalities' planes share one grid, so "
                "give each stream's encoder the same patch size", path="model.autoencoder.stream_encoders")
        self.downsample = downsampling[self.modalities[0]]
        t, h, w = clip.frames, clip.height // self.downsample, clip.width // self.downsample
        if h * self.downsample != clip.height or w * self.downsample != clip.width:
            raise ConfigError(f"[clip] {clip.height}x{clip.width} is not divisible by the encoder's downsampling "
                              f"{self.downsample}", path="model.autoencoder.encoder")
        self.grid = (t, h, w)
        self.projectors = nn.ModuleDict({
            f"{m}_{p}": build_component(projector, axis=ax, in_dim=self.encoders[m].out_dim, size=self.grid,
                                        out_dim=2 * latent_channels)
            for m in self.modalities for p, ax in COLLAPSED.items()})
        self.lifts = nn.ModuleDict({name: nn.Conv2d(latent_channels, width, 1) for name in self.projectors})
        streams = self.modalities
        roles = {"spatial_hw": attention.spatial, "temporal_tw": attention.temporal, "temporal_th": attention.temporal,
                 "cross_hw": attention.cross, "cross_tw": attention.cross, "cross_th": attention.cross,
                 "decoder_volume": attention.decoder}
        self.attention = nn.ModuleDict({k: build_component(v, dim=width, streams=streams) for k, v in roles.items()})
        self.decoders = nn.ModuleDict({
            m: build_component(stream_decoders.get(m, decoder), dim=width, out_channels=IN_CHANNELS[m], clip=clip,
                               downsample=self.downsample)
            for m in self.modalities})

    # ----------------------------------------------------------------------------- shapes
    def plane_shapes(self) -> PlaneShapes:
        t, h, w = self.grid
        c = self.latent_channels
        sizes = {"hw": (c, h, w), "tw": (c, t, w), "th": (c, t, h)}
        return {f"{m}_{p}": sizes[p] for m in self.modalities for p in COLLAPSED}

    def describe(self) -> dict[str, Any]:
        """Extra figures for `proav model summary`."""
        elements = sum(c * a * b for c, a, b in self.plane_shapes().values())
        t, h, w = self.clip.frames, self.clip.height, self.clip.width
        inputs = sum(IN_CHANNELS[m] for m in self.modalities) * t * h * w
        return {"latent box": f"[-{self.latent_bound:g}, {self.latent_bound:g}] = scale {self.latent_scale:g} "
                              f"x clip {self.latent_clip:g}",
                "latent elements / sample": elements, "compression (input / latent)": round(inputs / elements, 1)}

    def _streams(self, video: Tensor | None, audio: Tensor | None) -> dict[str, Tensor]:
        """Dataset layout -> {m: (B, C_m, T, H, W)}, checked against the clip."""
        given = {"video": video, "audio": audio}
        return {m: self._stream(m, given[m]) for m in self.modalities}

    def _stream(self, m: str, x: Tensor | None) -> Tensor:
        """One modality in dataset layout -> (B, C_m, T, H, W), checked against the clip."""
        t, h, w = self.clip.frames, self.clip.height, self.clip.width
        want = (3, t, h, w) if m == "video" else (t, h, w)
        if x is None or tuple(x.shape[1:]) != want:
            got = "None" if x is None else tuple(x.shape)
            raise ValueError(f"mdsa ({'+'.join(self.modalities)}) needs {m} of shape (B, {', '.join(map(str, want))}) "
                             f"for [clip] frames={t} height={h} width={w}; got {got}")
        return x if m == "video" else x.unsqueeze(1)  # (B, C_m, T, H, W)

    # ----------------------------------------------------------------------------- encode / decode
    def encode(self, video: Tensor | None, audio: Tensor | None) -> dict[str, DiagonalGaussian]:
        """video (B, 3, T, H, W), audio (B, T, H, W) -> posterior per plane name."""
        posteriors = {}
        for m, x in self._streams(video, audio).items():
            posteriors |= self._encode_stream(m, x)
        return posteriors

    def _encode_stream(self, m: str, x: Tensor) -> dict[str, DiagonalGaussian]:
        u = self.encoders[m](x)  # (B, D_e, T, H', W')
        return {f"{m}_{p}": DiagonalGaussian(self.projectors[f"{m}_{p}"](u), self.latent_clip)  # (B, 2C, a, b)
                for p in COLLAPSED}

    def encode_modality(self, modality: str, x: Tensor) -> Planes:
        """One modality alone -> its three planes in generator space (the encoders do not mix
        modalities; GCM and Bi-Block attention sit in the decoder). x: video (B, 3, T, H, W)
        or audio (B, T, H, W). Conditional tasks encode their given side with it."""
        if modality not in self.modalities:
            raise ValueError(f"mdsa ({'+'.join(self.modalities)}) has no {modality} stream")
        stream = self._stream(modality, x)  # (B, C_m, T, H, W)
        return {k: self.latent_scale * q.mode() for k, q in self._encode_stream(modality, stream).items()}

    def _lift(self, name: str, z: Tensor) -> Tensor:
        x = self.lifts[name](z)  # (B, width, a, b)
        pos = sincos_positions(x, *x.shape[-2:], dim=self.width)  # (a*b, width)
        return x + pos.T.reshape(1, self.width, *x.shape[-2:])  # (B, width, a, b)

    def _pair(self, role: str, f: dict[str, Tensor], plane: str) -> None:
        v, a = self.attention[role](f.get(f"video_{plane}"), f.get(f"audio_{plane}"))
        f |= {k: x for k, x in ((f"video_{plane}", v), (f"audio_{plane}", a)) if x is not None}

    def decode(self, latents: Planes) -> dict[str, Tensor]:
        """Planes in mean space {name: (B, C, a, b)} -> {m: (B, C_m, T, H, W)}, unclamped."""
        f = {name: self._lift(name, latents[name]) for name in self.projectors}  # (B, width, a, b)
        self._pair("spatial_hw", f, "hw")
        self._pair("temporal_tw", f, "tw")
        self._pair("temporal_th", f, "th")
        for p in COLLAPSED:
            self._pair(f"cross_{p}", f, p)
        vol = {m: self.decoders[m].expand(f[f"{m}_hw"], f[f"{m}_tw"], f[f"{m}_th"]) for m in self.modalities}
        v, a = self.attention["decoder_volume"](vol.get("video"), vol.get("audio"))  # (B, width, T, H', W')
        vol |= {k: x for k, x in (("video", v), ("audio", a)) if x is not None}
        return {m: self.decoders[m](vol[m]) for m in self.modalities}  # (B, C_m, T, H, W)

    def forward(self, video: Tensor | None = None, audio: Tensor | None = None) -> MdsaOutput:
        """Training pass: posterior samples in train mode, posterior means in eval mode."""
        posteriors = self.encode(video, audio)
        z = {k: q.sample() if self.training else q.mode() for k, q in posteriors.items()}  # (B, C, a, b)
        return MdsaOutput(streams=self.decode(z), posteriors=posteriors, latents=z)

    # ----------------------------------------------------------------------------- generator space
    def encode_latents(self, video: Tensor | None, audio: Tensor | None) -> Planes:
        """video (B, 3, T, H, W), audio (B, T, H, W) -> planes in [-latent_bound, latent_bound]."""
        return {k: self.latent_scale * q.mode() for k, q in self.encode(video, audio).items()}

    def decode_latents(self, planes: Planes) -> tuple[Tensor | None, Tensor | None]:
        """Planes in generator space -> (video (B, 3, T, H, W), audio (B, T, H, W)), in [-1, 1]."""
        shapes = self.plane_shapes()
        for name, shape in shapes.items():
            if name not in planes or tuple(planes[name].shape[1:]) != shape:
                got = tuple(planes[name].shape) if name in planes else "missing"
                raise ValueError(f"mdsa.decode_latents needs plane {name} of shape (B, {', '.join(map(str, shape))}); got {got}")
        out = self.decode({k: planes[k] / self.latent_scale for k in shapes})
        video = out["video"].clamp(-1, 1) if "video" in out else None
        audio = out["audio"].squeeze(1).clamp(-1, 1) if "audio" in out else None
        return video, audio

    def reconstruct(self, video: Tensor | None, audio: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """Encode (posterior means) and decode, in dataset layout, clamped to [-1, 1]."""
        return self.decode_latents(self.encode_latents(video, audio))

    def training_step(self) -> MdsaTrainingStep:
        """A fresh training step (losses of `[model.autoencoder.loss]`, new discriminators)."""
        return MdsaTrainingStep(self.loss_params, self.modalities, self.clip)
