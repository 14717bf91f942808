"""javisdit: JavisDiT (Liu et al., "Joint Audio-Video Diffusion Transformer with Hierarchical
Spatio-Temporal Prior Synchronization") on the `tokens` stacker's sequence (B, C, N).

Two branches with their own weights: the video planes' tokens and the audio planes' tokens
(split by the stacker's segments, type_id < 3 is video). Each plane is cut into p x p patches
inside the plane (as token_dit); a token's embedding is its patch projection + a learned
plane-type embedding + a fixed 2-D sin-cos embedding of its (row, col) in its plane. Each
layer (blocks.JavisLayer): per branch spatio-temporal self-attention,
cross-attention to the condition, fine-grained spatio-temporal cross-attention to the prior
tokens (with a prior), then MM-BiCrossAttn between the branches, then per-branch MLPs.
adaLN-single timestep conditioning and zero-initialised gates and final layers: a fresh model
outputs exactly zero.

Choices the triplane latent forces (the paper works on video volumes (T, H, W) and audio
spectrogram latents, not on planes):
- "spatial" self-attention: tokens that share a time step attend to each other. The hw plane
  has no time axis and is one spatial group of its own; the tw and th planes have time on
  their first axis (a = T'), so row r of tw and row r of th (patch rows) form the group of
  time step r, like one frame of STDiT.
- "temporal" self-attention: along the time axis, per column of the tw plane and per column
  of the th plane. hw tokens have no time axis: they skip it (their output is masked to 0).
- prior cross-attention: every token attends to the spatial prior tokens; tw/th tokens
  (those with a time axis) also attend to the temporal prior tokens.
- attention groups are boolean masks over the modality's whole token sequence (planes of
  different sizes make unequal groups); the FLOPs reported count the full masked products.
- branches have separate weights (the paper initialises the audio branch from the video one;
  here both train from scratch), MM-BiCrossAttn as described in the paper (one score matrix,
  softmax over audio keys for video, over video queries for audio).
- training: the paper's third stage freezes the pretrained branches' self-attention and trains
  only the ST-CrossAttn and Bi-CrossAttn; with no pretrained branches here, everything but the
  prior trains (one stage, the generator loop).
- `prior = "none"` builds no prior cross-attention at all, so the prior's effect can be
  measured against the same generator without it. `prior = "hist_sypo"` loads the prior that
  `proav train prior` wrote (model.generator.prior_checkpoint; proav_core.training.prior_loop)
  and freezes it, as the paper's third stage does. The paper's prior reads a frozen text
  encoder; here it reads condition tokens, and the prior stage trained its own conditioner, so
  a trainable zero-initialised residual adapter (Dc -> Dc) maps the generator's condition
  tokens before the frozen prior. Generator training starts its conditioner from the prior
  stage's (`prepare_conditioner`), so the adapter starts from the tokens the prior was trained
  on; both keep training. Their weights are saved in the generator's checkpoint, and so is the
  prior's stage record (`checkpoint_context`): sampling builds the prior from that record and
  loads every weight from the generator's checkpoint, so it needs no prior checkpoint file
  (one from before the record is still read from prior_checkpoint).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from einops import rearrange
from pydantic import Field
from torch import Tensor, nn

import proav_core
from proav_core import ComponentParams
from proav_core.errors import ConfigError
from proav_core.interfaces.autoencoder import PLANE_NAMES
from proav_core.layers import TimestepEmbedder, sincos_2d
from proav_plugins.generation import dit_layers as L
from proav_plugins.generation.stackers import Segment
from proav_plugins.generation.token_dit import check_plane_layout, patchify_planes, require_token_stacker
from proav_plugins.peers.javisdit.blocks import JavisLayer, row_names

MODALITIES = ("video", "audio")


class JavisDiTParams(ComponentParams):
    preset: Literal["tiny", "small", "base", "paper", "opensora_xl"] = Field(
        "tiny", description="size preset (depth, width, heads, MLP ratio; the patch is `patch`)")
    depth: int | None = Field(None, ge=1,
                              description="number of layers, each a video and an audio block (None: the preset's)")
    hidden: int | None = Field(None, ge=4, description="transformer width (None: the preset's)")
    heads: int | None = Field(None, ge=1, description="attention heads (None: the preset's)")
    mlp_ratio: float | None = Field(None, gt=0, description="MLP width / transformer width (None: the preset's)")
    patch: int = Field(2, ge=1, description="square patch side inside each plane")
    prior: Literal["none", "hist_sypo"] = Field(
        "none", description="spatio-temporal prior: 'none' (no prior cross-attention) or 'hist_sypo' "
                            "(a trained estimator, `proav train prior`, loaded from prior_checkpoint)")
    prior_checkpoint: str | None = Field(
        None, description="with prior = 'hist_sypo': path of the trained prior checkpoint (frozen here)")


def modality_segments(segments: list[Segment]) -> dict[str, list[Segment]]:
    """The stacker's segments split by modality (type_id 0-2 video, 3-5 audio)."""
    return {m: [s for s in segments if (s.type_id >= 3) == (m == "audio")] for m in MODALITIES}


def token_layout(segments: list[Segment], patch: int) -> dict[str, Tensor]:
    """Per token of `segments`, plane by plane, row-major over the patch grid: plane (its
    type_id), axis kind (0 hw, 1 tw, 2 th), patch row and patch column, each (N,) int64."""
    plane, kind, row, col = [], [], [], []
    for s in segments:
        rows, cols = s.a // patch, s.b // patch
        plane.append(torch.full((rows * cols,), s.type_id))
        kind.append(torch.full((rows * cols,), s.type_id % 3))
        row.append(torch.arange(rows).repeat_interleave(cols))
        col.append(torch.arange(cols).repeat(rows))
    return {"plane": torch.cat(plane), "kind": torch.cat(kind), "row": torch.cat(row), "col": torch.cat(col)}


def attention_masks(layout: dict[str, Tensor], num_spatial: int, num_temporal: int) -> dict[str, Tensor]:
    """Boolean masks (True = may attend) from a token layout (see the module docstring):
    spatial (N, N), temporal (N, N), temporal_keep (N, 1) float, prior (N, Ns + Nt)."""
    kind, row, col = layout["kind"], layout["row"], layout["col"]
    timed = kind > 0  # tw and th planes have a time axis (their rows)
    spatial_group = torch.where(timed, row + 1, torch.zeros_like(row))  # hw: 0, time step r: r + 1
    spatial = spatial_group[:, None] == spatial_group[None, :]
    same_column = (kind[:, None] == kind[None, :]) & (col[:, None] == col[None, :])
    itself = torch.eye(kind.numel(), dtype=torch.bool, device=kind.device)
    temporal = torch.where(timed[:, None] & timed[None, :], same_column, itself)  # hw: only itself (then masked)
    prior = torch.cat([torch.ones(kind.numel(), num_spatial, dtype=torch.bool, device=kind.device),
                       timed[:, None].expand(-1, num_temporal)], dim=1)
    return {"spatial": spatial, "temporal": temporal, "temporal_keep": timed[:, None].float(), "prior": prior}


class JavisDiT(nn.Module):
    """Velocity network on token latents: x (B, C, N), t (B,), cond (B, L, Dc) -> (B, C, N).

    `prior`, when given, is a trained, frozen spatio-temporal prior estimator (kind `prior`,
    e.g. hist_sypo): cond (B, L, Dc) -> prior tokens (B, Ns + Nt, Dp), sampled in training, its
    mean in eval (deterministic sampling); a trainable zero-initialised adapter sits before it.
    """

    def __init__(self, latent_shape: tuple[int, ...], cond_dim: int, segments: list[Segment], size: L.Size,
                 patch: int, prior: nn.Module | None = None):
        super().__init__()
        c, n = latent_shape
        check_plane_layout("javisdit", segments, n, patch)
        self.latent_shape, self.cond_dim, self.size, self.p = (c, n), cond_dim, size, patch
        self.segments = modality_segments(segments)
        d, patch_dim = size.hidden, c * patch * patch
        prior_dim = None if prior is None else prior.prior_dim
        num_s, num_t = (0, 0) if prior is None else (prior.num_spatial, prior.num_temporal)
        self.patch_embed = nn.ModuleDict({m: nn.Linear(patch_dim, d) for m in MODALITIES})
        self.plane_embed = nn.Embedding(len(PLANE_NAMES), d)
        self.t_embed = TimestepEmbedder(d)
        self.adaln = L.AdaLNSingle(d, len(row_names(prior is not None)))
        self.y_embed = L.condition_embedder(cond_dim, d)
        self.layers = nn.ModuleList(JavisLayer(d, size.heads, size.mlp_ratio, prior_dim) for _ in range(size.depth))
        self.final = nn.ModuleDict({m: L.FinalLayer(d, patch_dim) for m in MODALITIES})
        for m in MODALITIES:
            segs = self.segments[m]
            layout = token_layout(segs, patch)
            self.register_buffer(f"{m}_plane_ids", torch.cat(
                [torch.full(((s.a // patch) * (s.b // patch),), s.type_id) for s in segs]), persistent=False)
            self.register_buffer(f"{m}_pos", torch.cat([sincos_2d(s.a // patch, s.b // patch, d) for s in segs]),
                                 persistent=False)  # (N_m, D)
            for key, mask in attention_masks(layout, num_s, num_t).items():
                self.register_buffer(f"{m}_mask_{key}", mask, persistent=False)
        L.init_weights(self)
        nn.init.normal_(self.plane_embed.weight, std=0.02)
        self.prior = prior  # after init_weights, which must not touch the trained prior's weights
        if prior is not None:
            prior.requires_grad_(False)
            # the prior stage trained the prior on its own conditioner's tokens; the generator's
            # conditioner is another (trained) table, so a zero-initialised residual adapter learns
            # to map its tokens to what the frozen prior expects
            self.prior_adapter = nn.Linear(cond_dim, cond_dim)
            nn.init.zeros_(self.prior_adapter.weight)
            nn.init.zeros_(self.prior_adapter.bias)

    def num_tokens(self, modality: str | None = None) -> int:
        """Tokens per sample of one modality, or of both (None)."""
        mods = MODALITIES if modality is None else (modality,)
        return sum(int(getattr(self, f"{m}_plane_ids").numel()) for m in mods)

    def modality_masks(self, modality: str) -> dict[str, Tensor]:
        keys = ("spatial", "temporal", "temporal_keep", "prior")
        return {k: getattr(self, f"{modality}_mask_{k}") for k in keys}

    def patchify(self, x: Tensor, modality: str) -> Tensor:
        """(B, C, N) -> that modality's tokens (B, N_m, C*p*p), plane by plane."""
        return patchify_planes(x, self.segments[modality], self.p)

    def unpatchify(self, tokens: dict[str, Tensor]) -> Tensor:
        """{modality: (B, N_m, C*p*p)} -> (B, C, N) in the stacker's plane order."""
        p, parts = self.p, []  # (offset, (B, C, a*b)) per plane
        for m in MODALITIES:
            start = 0
            for s in self.segments[m]:
                count = (s.a // p) * (s.b // p)
                parts.append((s.offset, rearrange(tokens[m][:, start : start + count],
                                                  "b (h w) (c ph pw) -> b c (h ph w pw)", ph=p, pw=p, w=s.b // p)))
                start += count
        return torch.cat([part for _, part in sorted(parts, key=lambda item: item[0])], dim=2)

    def checkpoint_context(self) -> dict[str, Any]:
        """What generator checkpoints keep to rebuild this model without other files (the optional
        hook; the factory reads it back from its `restoring` context): the prior's stage record."""
        return {} if self.prior is None else {"prior_stage": self.prior.stage}

    def prepare_conditioner(self, conditioner: nn.Module) -> None:
        """Generator training's optional hook: with a prior, start the conditioner from the one the
        prior stage trained beside it (the tokens the frozen prior has read); it keeps training.
        Nothing without a prior, or for a prior checkpoint that holds no conditioner."""
        stage = getattr(self.prior, "stage_conditioner", None)
        if not stage:
            return
        from proav_core.training.checkpoint import load_saved_conditioner  # here: registry listings stay light

        load_saved_conditioner(conditioner, stage, f"with the prior in {self.prior.stage_source}")

    def prior_tokens(self, cond: Tensor) -> Tensor | None:
        """cond (B, L, Dc) -> prior tokens (B, Ns + Nt, Dp), or None without a prior."""
        if self.prior is None:
            return None
        cond = cond + self.prior_adapter(cond)  # (B, L, Dc)
        return self.prior.sample(cond) if self.training else self.prior.mean(cond)  # (B, Ns + Nt, Dp)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """x (B, C, N), t (B,) or scalar in [0, 1], cond (B, L, Dc) -> (B, C, N)."""
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])  # (B,)
        h = {m: self.patch_embed[m](self.patchify(x, m)) + self.plane_embed(getattr(self, f"{m}_plane_ids"))[None]
             + getattr(self, f"{m}_pos")[None] for m in MODALITIES}  # (B, N_m, D) each
        t_emb = self.t_embed(t)  # (B, D)
        mod = self.adaln(t_emb)  # (B, K, D)
        y = self.y_embed(cond)  # (B, L, D)
        prior = self.prior_tokens(cond)  # (B, Ns + Nt, Dp) or None
        masks = {m: self.modality_masks(m) for m in MODALITIES}
        video, audio = h["video"], h["audio"]
        for layer in self.layers:
            video, audio = layer(video, audio, y, mod, masks, prior)  # (B, Nv, D), (B, Na, D)
        out = {"video": self.final["video"](video, t_emb), "audio": self.final["audio"](audio, t_emb)}
        return self.unpatchify(out)  # (B, C, N)

    def describe(self, cond_tokens: int = 1) -> dict[str, Any]:
        """Parameters (total and trainable), tokens per sample and analytic forward FLOPs per
        sample (masked attentions counted in full; the frozen prior's own FLOPs excluded)."""
        d, patch_dim = self.size.hidden, self.patch_embed["video"].in_features
        mlp = int(d * self.size.mlp_ratio)
        nv, na = self.num_tokens("video"), self.num_tokens("audio")
        n_prior = 0 if self.prior is None else self.prior.num_spatial + self.prior.num_temporal
        # MM-BiCrossAttn: q,v of video and k,v of audio, two attentions over one score shape, two projections
        layer = 2 * L.attention_flops(nv, na, d) + L.linear_flops(nv + na, d, 2 * d) + L.linear_flops(nv + na, d, d)
        for n in (nv, na):
            layer += (2 * L.self_attention_flops(n, n, d) + L.cross_attention_flops(n, cond_tokens, d)
                      + L.mlp_flops(n, d, mlp))
            if n_prior:
                layer += (L.linear_flops(n, d, d) + L.linear_flops(n_prior, self.prior.prior_dim, 2 * d)
                          + L.attention_flops(n, n_prior, d) + L.linear_flops(n, d, d))
        k = self.adaln.k
        adapter = L.linear_flops(cond_tokens, self.cond_dim, self.cond_dim) if n_prior else 0
        flops = (adapter + L.embedder_flops(d, self.cond_dim, cond_tokens, k) + L.linear_flops(nv + na, patch_dim, d)
                 + self.size.depth * layer + L.linear_flops(nv + na, d, patch_dim))
        return {"parameters": sum(p.numel() for p in self.parameters()),
                "trainable_parameters": sum(p.numel() for p in self.parameters() if p.requires_grad),
                "tokens_per_sample": nv + na, "video_tokens": nv, "audio_tokens": na, "prior_tokens": n_prior,
                "flops_per_sample": flops, "latent_shape": self.latent_shape, "depth": self.size.depth,
                "hidden": d, "heads": self.size.heads, "patch": self.p,
                "flops_counted": "forward, one sample: Linear 2mnk, attention QK^T and AV (masked attention "
                                 "in full); norms/activations/softmax/embedding lookups and the frozen prior's "
                                 "own FLOPs excluded"}


def make_javisdit(preset: str, depth: int | None, hidden: int | None, heads: int | None, mlp_ratio: float | None,
                  patch: int, prior: str, prior_checkpoint: str | None, latent_shape: tuple[int, ...], cond_dim: int,
                  stacker: Any = None, restoring: Mapping[str, Any] | None = None) -> JavisDiT:
    """Registry factory: needs the `tokens` stacker (factory context) with video and audio planes.
    `restoring` (context: the generator checkpoint about to be loaded, when sampling) holds the
    prior's stage record, so the prior is built from it and the prior checkpoint is not read."""
    require_token_stacker("javisdit", latent_shape, stacker)
    missing = [m for m, segs in modality_segments(stacker.segments).items() if not segs]
    if missing:
        raise ConfigError(f"generator 'javisdit' has a video and an audio branch; the latent has no {missing[0]} "
                          "planes (a single-stream autoencoder): use generator 'token_dit'", path="model.generator")
    size = L.resolve_size(preset, depth=depth, hidden=hidden, heads=heads, mlp_ratio=mlp_ratio)
    estimator = None
    if prior != "none":
        from proav_core.training.prior_loop import build_prior_stage, load_trained_prior

        key = "model.generator.prior_checkpoint"
        stage = ((restoring or {}).get("generator_context") or {}).get("prior_stage")
        if stage is not None:  # its weights come with the generator checkpoint's
            estimator = build_prior_stage(stage, prior, "the generator checkpoint's prior", key, cond_dim, stacker)
        else:
            estimator = load_trained_prior(prior_checkpoint, prior, key, cond_dim, stacker)
    return JavisDiT(latent_shape, cond_dim, stacker.segments, size, patch, estimator)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("generator", "javisdit", make_javisdit, JavisDiTParams,
                 "JavisDiT: video and audio branches, spatio-temporal attention, MM-BiCrossAttn, optional "
                 "HiST-Sypo prior")
