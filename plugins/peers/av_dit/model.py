"""av_dit: AV-DiT (Wang et al. 2024, papers/av-dit.txt) over the `tokens` stacker's sequence.

One DiT backbone (token_dit's: per-plane patches, plane-type + 2-D sin-cos positions,
DiTBlock blocks, adaLN-single, zero final layer; the same parameter names, so a token_dit
checkpoint of the same size loads as a backbone) is shared by both modalities: the video
tokens and the audio tokens each run through the same blocks, each stream attending only to
itself. AV-DiT's inserted parts (parts.py), each the identity at initialisation:
- video path: a temporal self-attention after every block;
- audio path: a light adapter on every block, kind `adapter` (serial / parallel bottleneck
  MLP or LoRA) with width or rank `adapter_ratio` x the block width;
- fusion: one extra block of joint self-attention over both streams, reusing the last
  backbone block's attention weights plus LoRA updates and a zero gate (the paper: "an extra
  shared self-attention block from the DiT block, equipped with lightweight parameters").

The recipe (`train`): AV-DiT freezes an image-pretrained DiT. Here there is no image model,
so step 1 is `train = "backbone"`: only the backbone trains, and the loss covers the video
planes alone (narrow_loss_mask, the optional Generator hook generator_loop honours); the
inserted parts are frozen at identity, so it is a plain per-modality token DiT. Step 2 is
`train = "adapters"` with `backbone_checkpoint` (step 1's last.ckpt, a token_dit
checkpoint of the same size, or a bare state dict): the backbone is frozen (requires_grad
False), only the inserted parts train, and, as they start as the identity, the model starts as
the loaded backbone. The class conditioner saved beside the backbone is loaded and frozen
with it (prepare_conditioner, the other optional hook). `train = "all"` trains everything at
once (one-run comparisons). Sampling from step 2's checkpoint does not read step 1's: the
factory's `restoring` context says every weight comes from the checkpoint being loaded.

Choices where the paper (as available here: abstract and figure titles) or the triplane
latent leaves things open:
- "temporal": tw and th planes have a time axis (their rows, a = T'); temporal attention runs
  along it, per column, with one set of weights for both planes; hw has no time axis and
  passes through unchanged.
- Adapter kinds: Figures 5 ("various adapter layers") and 6 ("adapter ratios") compare kinds
  and ratios whose names the text here does not give; offered are the common ones (serial
  and parallel bottleneck adapters, LoRA), the ratio as bottleneck width / block width
  (LoRA: rank / the smaller side of each updated weight). Default: serial, 0.25.
- Placement: the temporal attention follows each whole block (norm, attention, zero-init
  output; no timestep modulation of its own); the fusion block follows the last block and
  precedes the shared final layer. The streams' tokens are not concatenated inside the
  backbone, so each modality's self-attention costs (tokens of that modality)^2.
- The paper's model is DiT-XL/2 (28 blocks, width 1152); configs/peers/av_dit_paper.toml
  uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

import proav_core
from proav_core.errors import CheckpointError, ConfigError, MissingWeightsError
from proav_plugins.generation import dit_layers as L
from proav_plugins.generation.dit_blocks import DiTBlock
from proav_plugins.generation.token_dit import TokenDiT, TokenDiTParams, require_token_stacker
from proav_plugins.peers.av_dit.parts import AdapterKind, AudioAdapter, FusionBlock, TemporalAttention

TrainStep = Literal["all", "backbone", "adapters"]
INSERTED = ("temporal", "audio_adapters", "fusion")  # module names of the parts AV-DiT adds
VIDEO_TYPES = (0, 1, 2)  # PLANE_NAMES indices of video_hw, video_tw, video_th


class AVDiTParams(TokenDiTParams):
    adapter: AdapterKind = Field("serial", description="audio adapter kind: serial or parallel bottleneck MLP, lora")
    adapter_ratio: float = Field(0.25, gt=0, le=1, description="adapter width (LoRA rank) / block width")
    train: TrainStep = Field("all", description="what trains: all; backbone (video planes' loss only); "
                                                "adapters (backbone frozen: temporal attention, adapters, fusion)")
    backbone_checkpoint: str | None = Field(None, description="local checkpoint whose backbone weights are loaded "
                                                              "(needed for train = 'adapters')")


class AVDiT(TokenDiT):
    """Velocity network on token latents: x (B, C, N), t (B,), cond (B, L, Dc) -> (B, C, N)."""

    def __init__(self, latent_shape: tuple[int, ...], cond_dim: int, segments: list, size: L.Size, patch: int,
                 adapter: str, adapter_ratio: float, train: str):
        super().__init__(latent_shape, cond_dim, segments, size, patch)
        self.adapter, self.adapter_ratio, self.train_step = adapter, adapter_ratio, train
        video = [s for s in self.segments if s.type_id in VIDEO_TYPES]
        self.num_video_tokens = sum((s.a // patch) * (s.b // patch) for s in video)
        planes, offset = [], 0
        for s in video:
            planes.append((offset, s.a // patch, s.b // patch, s.type_id != 0))  # hw has no time axis
            offset += (s.a // patch) * (s.b // patch)
        d = size.hidden
        self.temporal = nn.ModuleList(TemporalAttention(d, size.heads, planes) for _ in range(size.depth))
        self.audio_adapters = nn.ModuleList(AudioAdapter(adapter, b, d, adapter_ratio) for b in self.blocks)
        self.fusion = FusionBlock(self.blocks[-1].attn, d, adapter_ratio)
        L.init_weights(self.temporal)
        L.init_weights(self.audio_adapters)
        self.start_inserted_as_identity()
        is_video = torch.zeros(latent_shape[1], dtype=torch.bool)
        for s in video:
            is_video[s.offset : s.offset + s.length] = True
        self.register_buffer("video_positions", is_video, persistent=False)  # (N,)
        self.backbone_source, self.backbone_conditioner = "", {}  # set by load_backbone
        self.set_train_step(train)

    @torch.no_grad()
    def start_inserted_as_identity(self) -> None:
        """Zero the inserted parts' last factors, so the model computes the backbone's function."""
        for part in (*self.temporal, *self.audio_adapters, self.fusion):
            part.zero_init()

    def set_train_step(self, train: str) -> None:
        """requires_grad per part: all; backbone (inserted parts frozen); adapters (backbone frozen)."""
        for name, p in self.named_parameters():
            inserted = name.split(".")[0] in INSERTED
            p.requires_grad_(train == "all" or inserted == (train == "adapters"))

    def backbone_state(self) -> dict[str, Tensor]:
        """The backbone's tensors (everything but the inserted parts), by state-dict name."""
        return {k: v for k, v in self.state_dict().items() if k.split(".")[0] not in INSERTED}

    def prepare_conditioner(self, conditioner: nn.Module) -> None:
        """Generator training's optional hook: give the conditioner the weights it was trained
        with beside the loaded backbone (so step 2 starts from step 1's function) and, in the
        adapter step, freeze it with the backbone. Nothing without such weights (a bare state
        dict): the conditioner then trains."""
        if not self.backbone_conditioner:
            return
        from proav_core.training.checkpoint import load_saved_conditioner  # here: registry listings stay light

        load_saved_conditioner(conditioner, self.backbone_conditioner, f"in {self.backbone_source}")
        if self.train_step == "adapters":
            conditioner.requires_grad_(False)

    def narrow_loss_mask(self, mask: Tensor) -> Tensor:
        """The stacker's loss mask (C, N) -> the mask the objective uses: video planes only in
        the backbone step (the backbone learns from the video planes alone), else unchanged."""
        if self.train_step != "backbone":
            return mask
        return mask * self.video_positions.to(mask.device, mask.dtype)  # (C, N)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """x (B, C, N), t (B,) or scalar in [0, 1], cond (B, L, Dc) -> (B, C, N)."""
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])  # (B,)
        h = self.patch_embed(self.patchify(x))  # (B, T, D)
        h = h + self.plane_embed(self.plane_ids)[None] + self.pos[None]  # (B, T, D)
        t_emb = self.t_embed(t)  # (B, D)
        mod = self.adaln(t_emb)  # (B, K, D)
        y = self.y_embed(cond)  # (B, L, D)
        video, audio = h[:, : self.num_video_tokens], h[:, self.num_video_tokens :]  # (B, Tv, D), (B, Ta, D)
        for block, temporal, adapter in zip(self.blocks, self.temporal, self.audio_adapters):
            video = temporal(block(video, y, mod))  # (B, Tv, D)
            audio = adapter(block, audio, y, mod)  # (B, Ta, D)
        h = self.fusion(torch.cat([video, audio], dim=1), self.blocks[-1].attn)  # (B, T, D)
        return self.unpatchify(self.final(h, t_emb))  # (B, C, N)

    def describe(self, cond_tokens: int = 1) -> dict[str, Any]:
        """Parameters (total and trainable), tokens per sample, analytic forward FLOPs per sample
        (as token_dit's; LoRA weight updates are counted once per sample, as for a batch of one)."""
        d, n, patch_dim = self.size.hidden, self.num_tokens, self.patch_embed.in_features
        n_video, n_audio, hidden = self.num_video_tokens, n - self.num_video_tokens, int(d * self.size.mlp_ratio)

        def block(tokens: int) -> int:
            return (L.self_attention_flops(tokens, tokens, d) + L.cross_attention_flops(tokens, cond_tokens, d)
                    + L.mlp_flops(tokens, d, hidden))

        per_depth = (block(n_video) + self.temporal[0].flops(d) + block(n_audio)
                     + self.audio_adapters[0].flops(n_audio, d))
        flops = (L.embedder_flops(d, self.cond_dim, cond_tokens, DiTBlock.K) + L.linear_flops(n, patch_dim, d)
                 + self.size.depth * per_depth + self.fusion.flops(n, d) + L.linear_flops(n, d, patch_dim))
        info = super().describe(cond_tokens)
        info.update(flops_per_sample=flops, adapter=self.adapter, adapter_ratio=self.adapter_ratio,
                    train=self.train_step,
                    trainable_parameters=sum(p.numel() for p in self.parameters() if p.requires_grad),
                    inserted_parameters=sum(p.numel() for n_, p in self.named_parameters()
                                            if n_.split(".")[0] in INSERTED))
        return info


def read_checkpoint(path: str) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(generator weights, conditioner weights) by their modules' own names, from a proav
    generator checkpoint (its EMA copy when it has one) or a bare generator state dict (no
    conditioner weights)."""
    from proav_core.training.checkpoint import peek_checkpoint, require_kind  # here: registry listings stay light

    key = "model.generator.backbone_checkpoint"
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingWeightsError(f"{key}: {file} does not exist; give the path of a trained generator checkpoint "
                                  "(e.g. runs/<name>/generator/last.ckpt of the train = 'backbone' run)")
    try:
        raw = peek_checkpoint(file)  # a clear reason for an unreadable file, without torch's unsafe advice
        require_kind(raw, file, "generator", key)
    except CheckpointError as err:
        raise ConfigError(f"{key}: {err}", path=key) from None
    if not isinstance(raw, dict):
        return {}, {}
    weights, prefix = (raw["ema"], "shadow.") if "ema" in raw else (raw.get("model"), "")
    if not isinstance(weights, dict):
        return raw, {}  # a bare state dict

    def part(name: str) -> dict[str, Tensor]:
        start = f"{prefix}{name}."
        return {k.removeprefix(start): v for k, v in weights.items() if k.startswith(start)}

    return part("generator"), part("conditioner")


def load_backbone(model: AVDiT, path: str) -> None:
    """Copy the backbone weights of `path` into the model (ConfigError when they do not fit) and
    keep the checkpoint's conditioner weights for prepare_conditioner."""
    from proav_core.training.checkpoint import state_mismatch  # here: registry listings stay light

    generator, conditioner = read_checkpoint(path)
    expected = model.backbone_state()
    saved = {k: v for k, v in generator.items() if k.split(".")[0] not in INSERTED}
    if problem := state_mismatch(expected, saved):
        raise ConfigError(f"model.generator.backbone_checkpoint: the tensors of {path} do not fit this av_dit "
                          f"backbone (same preset, depth, hidden, patch, latent and condition width?): {problem}",
                          path="model.generator.backbone_checkpoint")
    model.load_state_dict(saved, strict=False)
    model.backbone_source, model.backbone_conditioner = str(path), conditioner


def make_av_dit(preset: str, depth: int | None, hidden: int | None, heads: int | None, mlp_ratio: float | None,
                patch: int, checkpoint_blocks: int, adapter: str, adapter_ratio: float, train: str,
                backbone_checkpoint: str | None, latent_shape: tuple[int, ...], cond_dim: int,
                stacker: Any = None, restoring: Mapping[str, Any] | None = None) -> AVDiT:
    """Registry factory: needs the `tokens` stacker with both modalities' planes. With `restoring`
    (context: the generator checkpoint about to be loaded, when sampling) the backbone checkpoint
    is not read: every weight comes from the one being restored."""
    require_token_stacker("av_dit", latent_shape, stacker)
    types = {s.type_id for s in stacker.segments}
    if not types & set(VIDEO_TYPES) or types <= set(VIDEO_TYPES):
        raise ConfigError(f"generator 'av_dit' needs video and audio planes, the stacker holds "
                          f"{[s.name for s in stacker.segments]}", path="model.generator")
    if checkpoint_blocks:
        raise ConfigError("av_dit does not recompute block activations; set model.generator.checkpoint_blocks = 0",
                          path="model.generator.checkpoint_blocks")
    if train == "adapters" and backbone_checkpoint is None:
        raise ConfigError("model.generator.train = 'adapters' freezes the backbone, so it needs trained backbone "
                          "weights: set model.generator.backbone_checkpoint (e.g. the last.ckpt of a "
                          "train = 'backbone' run)", path="model.generator.backbone_checkpoint")
    size = L.resolve_size(preset, depth=depth, hidden=hidden, heads=heads, mlp_ratio=mlp_ratio)
    model = AVDiT(latent_shape, cond_dim, stacker.segments, size, patch, adapter, adapter_ratio, train)
    if backbone_checkpoint is not None and restoring is None:
        load_backbone(model, backbone_checkpoint)
    return model


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("generator", "av_dit", make_av_dit, AVDiTParams,
                 "AV-DiT: one DiT backbone shared by video and audio tokens, video temporal attention, "
                 "audio adapters, a light fusion block; two-step recipe (train = backbone, then adapters)")
