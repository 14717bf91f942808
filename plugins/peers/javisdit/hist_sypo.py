"""hist_sypo: JavisDiT's hierarchical spatio-temporal synchronisation prior estimator (HiST-Sypo),
a component of kind `prior` with its own training stage (`proav train prior`).

Estimator: the condition tokens (B, L, Dc) -> a transformer encoder; Ns learned spatial and
Nt learned temporal query tokens -> a transformer decoder (self-attention among the queries,
cross-attention to the encoded condition, MLP) -> per query token a Gaussian (mean, log
variance) of width Dp. `sample` draws the prior tokens (B, Ns + Nt, Dp) from it, `mean`
returns its mean.

Contrastive training (paper: "trained via contrastive learning using negative samples
(asynchronous audio-video pairs)"): a pair encoder maps a tokens latent (B, C, N) (video and
audio planes together, as the `tokens` stacker lays them out) to Ns + Nt embeddings of width Dp.
Besides the patch tokens it holds one sync token per time step: the elementwise product of a
projection of the video's and of the audio's mean tw/th token of that step (a bilinear match in
the spirit of the public code's audio-video merging block, so that time alignment is a feature
the encoder sees, not one it must discover). Spatial queries read every token, temporal queries
the tokens with a time axis (tw, th) and the sync tokens. Negatives are made from the batch
itself: the audio tw/th planes shifted in time (rolled along their time axis) and the audio
planes of another clip (the batch rolled by one). Per prior token, the cosine similarities
between the sampled prior and the embeddings of the real pair and of its negatives, over a
temperature, enter a cross-entropy whose target is the real pair (InfoNCE, one of the losses of
the public code; its default hinge loss let the easy swapped negatives drown the time-shifted
ones on the toy of tests/generation/test_hist_sypo.py), plus `kl_weight` x KL(N(mean, var) ||
N(0, I)).

Choices where the paper is open (its prior reads 77 ImageBind text states; here the
condition tokens of the configured conditioner): width, heads, depth of the encoder and of
the decoder (paper: "4-layer Transformer encoder-decoder"; `depth` counts each), Ns = Nt =
32 and Dp = 128 by default as the public code's defaults.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import proav_core
from proav_core import ComponentParams
from proav_core.errors import ConfigError
from proav_core.interfaces.autoencoder import PLANE_NAMES
from proav_core.layers import Attention, Mlp, TransformerBlock, sincos_1d, sincos_2d
from proav_plugins.generation.stackers import Segment
from proav_plugins.generation.token_dit import patchify_planes
from proav_plugins.peers.javisdit.model import token_layout


class HiSTSypoParams(ComponentParams):
    width: int = Field(64, ge=4, description="transformer width of the estimator and of the pair encoder")
    heads: int = Field(4, ge=1, description="attention heads")
    depth: int = Field(2, ge=1, description="encoder layers and decoder layers (each)")
    num_spatial: int = Field(32, ge=1, description="spatial prior tokens Ns")
    num_temporal: int = Field(32, ge=1, description="temporal prior tokens Nt")
    prior_dim: int = Field(128, ge=1, description="width of a prior token Dp")
    patch: int = Field(2, ge=1, description="square patch side of the pair encoder inside each plane")
    kl_weight: float = Field(1e-4, ge=0, description="weight of KL(prior || N(0, I)) in the training loss")
    temperature: float = Field(0.1, gt=0, description="InfoNCE temperature of the per-token cosine similarities")


class QueryDecoderLayer(nn.Module):
    """Queries (B, Q, D): self-attention, cross-attention to a memory (B, M, D), MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_a, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm_c, self.cross = nn.LayerNorm(dim), Attention(dim, heads, context_dim=dim)
        self.norm_m, self.mlp = nn.LayerNorm(dim), Mlp(dim, 4 * dim)

    def forward(self, q: Tensor, memory: Tensor, mask: Tensor | None = None) -> Tensor:
        """q (B, Q, D), memory (B, M, D), mask (B, Q, M) bool or None -> (B, Q, D)."""
        q = q + self.attn(self.norm_a(q))  # (B, Q, D)
        q = q + self.cross(self.norm_c(q), context=memory, mask=mask)  # (B, Q, D)
        return q + self.mlp(self.norm_m(q))  # (B, Q, D)


class HiSTSypo(nn.Module):
    """cond (B, L, Dc) -> Gaussian prior tokens (B, Ns + Nt, Dp); pair encoder for its loss."""

    def __init__(self, cond_dim: int, segments: list[Segment], channels: int, width: int, heads: int, depth: int,
                 num_spatial: int, num_temporal: int, prior_dim: int, patch: int, kl_weight: float,
                 temperature: float):
        super().__init__()
        for s in segments:
            if s.a % patch or s.b % patch:
                raise ConfigError(f"hist_sypo patch {patch} does not divide plane {s.name} ({s.a} x {s.b}); "
                                  "set model.prior.patch to a common divisor", path="model.prior.patch")
        if width % heads or width % 4:
            raise ConfigError(f"hist_sypo width {width} must be a multiple of 4 and of heads={heads}",
                              path="model.prior.width")
        self.cond_dim, self.segments, self.patch = cond_dim, list(segments), patch
        self.num_spatial, self.num_temporal, self.prior_dim = num_spatial, num_temporal, prior_dim
        self.kl_weight = kl_weight
        self.temperature = temperature
        n_q = num_spatial + num_temporal
        # estimator: condition -> Gaussian prior tokens
        self.cond_in = nn.Linear(cond_dim, width)
        self.encoder = nn.ModuleList(TransformerBlock(width, heads, 4 * width) for _ in range(depth))
        self.queries = nn.Parameter(torch.randn(n_q, width) * 0.02)
        self.decoder = nn.ModuleList(QueryDecoderLayer(width, heads) for _ in range(depth))
        self.gaussian = nn.Linear(width, 2 * prior_dim)
        # pair encoder: tokens latent -> embeddings in the prior's space (training only)
        self.pair_in = nn.Linear(channels * patch * patch, width)
        self.plane_embed = nn.Embedding(len(PLANE_NAMES), width)
        layout = token_layout(segments, patch)
        self.register_buffer("plane_ids", torch.cat([torch.full(((s.a // patch) * (s.b // patch),), s.type_id)
                                                     for s in segments]), persistent=False)  # (T,)
        self.register_buffer("pos", torch.cat([sincos_2d(s.a // patch, s.b // patch, width) for s in segments]),
                             persistent=False)  # (T, width)
        timed = layout["kind"] > 0  # tw/th tokens: their patch row is a time step
        rows = max((s.a // patch for s in segments if s.type_id % 3), default=0)
        self.register_buffer("row_pool", torch.stack([self._row_pool(layout, rows, video) for video in (True, False)]),
                             persistent=False)  # (2, R, T): mean of each modality's timed tokens per time step
        self.register_buffer("row_pos", sincos_1d(torch.arange(rows), width), persistent=False)  # (R, W)
        self.merge_video, self.merge_audio = nn.Linear(width, width), nn.Linear(width, width)
        self.merge_out = nn.Linear(width, width)
        readable = torch.cat([torch.ones(num_spatial, timed.numel() + rows, dtype=torch.bool),
                              torch.cat([timed, torch.ones(rows, dtype=torch.bool)])[None].expand(num_temporal, -1)])
        self.register_buffer("read_mask", readable, persistent=False)  # (Ns + Nt, T + R): temporal: timed + sync
        self.pair_blocks = nn.ModuleList(TransformerBlock(width, heads, 4 * width) for _ in range(depth))
        self.pair_queries = nn.Parameter(torch.randn(n_q, width) * 0.02)
        self.pair_readout = QueryDecoderLayer(width, heads)
        self.pair_out = nn.Linear(width, prior_dim)

    @staticmethod
    def _row_pool(layout: dict[str, Tensor], rows: int, video: bool) -> Tensor:
        """(R, T): averages one modality's tw/th tokens of each time step (patch row)."""
        kind, plane = layout["kind"], layout["plane"]
        mine = (kind > 0) & ((plane < 3) if video else (plane >= 3))  # (T,)
        pool = (layout["row"][None] == torch.arange(rows)[:, None]) & mine[None]  # (R, T)
        return pool.float() / pool.sum(1, keepdim=True).clamp(min=1)

    def distribution(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        """cond (B, L, Dc) -> mean, log variance (B, Ns + Nt, Dp) each."""
        memory = self.cond_in(cond)  # (B, L, W)
        for block in self.encoder:
            memory = block(memory)  # (B, L, W)
        q = self.queries[None].expand(cond.shape[0], -1, -1)  # (B, Q, W)
        for layer in self.decoder:
            q = layer(q, memory)  # (B, Q, W)
        mean, logvar = self.gaussian(q).chunk(2, dim=-1)  # (B, Q, Dp) each
        return mean, logvar.clamp(-10.0, 10.0)

    def mean(self, cond: Tensor) -> Tensor:
        """cond (B, L, Dc) -> the prior's mean (B, Ns + Nt, Dp)."""
        return self.distribution(cond)[0]

    def sample(self, cond: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """cond (B, L, Dc) -> prior tokens drawn from the Gaussian (B, Ns + Nt, Dp)."""
        mean, logvar = self.distribution(cond)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + (0.5 * logvar).exp() * eps  # (B, Q, Dp)

    def embed_pair(self, latent: Tensor) -> Tensor:
        """Tokens latent (B, C, N) -> pair embeddings (B, Ns + Nt, Dp)."""
        h = self.pair_in(patchify_planes(latent, self.segments, self.patch))  # (B, T, W)
        h = h + self.plane_embed(self.plane_ids)[None] + self.pos[None]  # (B, T, W)
        video_rows, audio_rows = torch.einsum("mrt,btw->mbrw", self.row_pool, h)  # (B, R, W) each
        sync = self.merge_out(self.merge_video(video_rows) * self.merge_audio(audio_rows))  # (B, R, W)
        h = torch.cat([h, sync + self.row_pos[None]], dim=1)  # (B, T + R, W)
        for block in self.pair_blocks:
            h = block(h)  # (B, T, W)
        q = self.pair_queries[None].expand(latent.shape[0], -1, -1)  # (B, Q, W)
        q = self.pair_readout(q, h, mask=self.read_mask[None].expand(latent.shape[0], -1, -1))  # (B, Q, W)
        return self.pair_out(q)  # (B, Q, Dp)

    def asynchronous_pairs(self, latent: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Negatives of a batch of real pairs (B, C, N) -> (B, X, C, N): the audio planes with a
        time axis rolled in time by a random 1..T'-1 steps and, for B > 1, every clip with the
        audio planes of the next clip in the batch."""
        shifted, swapped = latent.clone(), latent.clone()
        frames = max((s.a for s in self.segments if s.type_id > 3), default=1)  # T' of the audio tw/th planes
        step = int(torch.randint(1, frames, (1,), generator=generator)) if frames > 1 else 0  # one shift for both
        for s in self.segments:
            if s.type_id < 3:
                continue
            part = slice(s.offset, s.offset + s.length)
            if s.type_id > 3 and step:  # audio_tw, audio_th: rows are time steps
                plane = latent[:, :, part].unflatten(-1, (s.a, s.b))  # (B, C, a, b)
                shifted[:, :, part] = plane.roll(step, dims=2).flatten(-2)
            swapped[:, :, part] = latent[:, :, part].roll(1, dims=0)
        negatives = [shifted] + ([swapped] if latent.shape[0] > 1 else [])
        return torch.stack(negatives, dim=1)  # (B, X, C, N)

    def similarity(self, latents: Tensor, prior: Tensor) -> Tensor:
        """latents (B, X, C, N), prior (B, Q, Dp) -> per-token cosine similarity (B, X, Q)."""
        b, x = latents.shape[:2]
        embed = self.embed_pair(latents.flatten(0, 1)).unflatten(0, (b, x))  # (B, X, Q, Dp)
        return F.cosine_similarity(embed, prior[:, None], dim=-1)  # (B, X, Q)

    def loss(self, latent: Tensor, cond: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Contrastive loss of real pairs latent (B, C, N) with their condition (B, L, Dc): scalar."""
        mean, logvar = self.distribution(cond)
        prior = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=generator, device=mean.device)
        pairs = torch.cat([latent[:, None], self.asynchronous_pairs(latent, generator)], dim=1)  # (B, 1 + X, C, N)
        sim = self.similarity(pairs, prior)  # (B, 1 + X, Q)
        logits = sim.transpose(1, 2).flatten(0, 1) / self.temperature  # (B * Q, 1 + X), the real pair first
        contrast = F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        return contrast + self.kl_weight * kl

    def sync_distance(self, latent: Tensor, cond: Tensor) -> Tensor:
        """How far pairs (B, C, N) lie from the prior of their condition (B, L, Dc): 1 - the
        mean per-token cosine similarity to the prior's mean, (B,) in [0, 2]."""
        return 1.0 - self.similarity(latent[:, None], self.mean(cond))[:, 0].mean(-1)

    def describe(self) -> dict[str, Any]:
        estimator = [self.cond_in, self.encoder, self.decoder, self.gaussian]
        return {"parameters": sum(p.numel() for p in self.parameters()),
                "estimator_parameters": sum(p.numel() for m in estimator for p in m.parameters())
                + self.queries.numel(),
                "prior_tokens": self.num_spatial + self.num_temporal, "prior_dim": self.prior_dim}


def make_hist_sypo(width: int, heads: int, depth: int, num_spatial: int, num_temporal: int, prior_dim: int,
                   patch: int, kl_weight: float, temperature: float, cond_dim: int, stacker: Any = None) -> HiSTSypo:
    """Registry factory: needs the `tokens` stacker (factory context) for the pair encoder."""
    if not hasattr(stacker, "segments") or len(stacker.latent_shape) != 2:
        raise ConfigError("prior 'hist_sypo' needs the 'tokens' stacker (factory context `stacker`) for its "
                          f"pair encoder; got {type(stacker).__name__}. Set model.stacker = \"tokens\".",
                          path="model.prior")
    return HiSTSypo(cond_dim, stacker.segments, stacker.latent_shape[0], width, heads, depth, num_spatial,
                    num_temporal, prior_dim, patch, kl_weight, temperature)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("prior", "hist_sypo", make_hist_sypo, HiSTSypoParams,
                 "JavisDiT's HiST-Sypo: Gaussian spatio-temporal prior tokens from the condition, contrastive")
