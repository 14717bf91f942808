"""token_dit: a plain DiT over the `tokens` stacker's sequence (B, C, N).

Each plane's segment of the sequence is cut into p x p patches (within the plane, so no
patch straddles two planes); a token's embedding is its patch projection + a learned
plane-type embedding (one per PLANE_NAMES entry: which modality and which axes) + a fixed
2-D sin-cos embedding of its (row, col) inside its plane. Blocks: full self-attention over
all planes' tokens, cross-attention to the condition, MLP (dit_blocks.DiTBlock), with the
same adaLN-zero timestep conditioning and zero final layer as stdit.

Needs the built stacker as factory context (`stacker`) for the plane layout; the layout is
not part of the data, so stack/unstack stay exact inverses.
"""

from __future__ import annotations

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
from proav_plugins.generation.dit_blocks import DiTBlock, run_blocks
from proav_plugins.generation.stackers import Segment


def require_token_stacker(generator: str, latent_shape: tuple[int, ...], stacker: Any,
                          fix: str = 'Set model.stacker = "tokens".') -> None:
    """ConfigError unless the factory context holds the `tokens` stacker: a latent (C, N) and
    the stacker's plane layout (`segments`), which every token-sequence generator reads."""
    if len(latent_shape) != 2 or not hasattr(stacker, "segments"):
        raise ConfigError(
            f"generator '{generator}' needs the 'tokens' stacker (latent (C, N) and its plane layout, offered "
            f"as factory context `stacker`); got latent_shape {tuple(latent_shape)} and stacker "
            f"{type(stacker).__name__}. {fix}",
            path="model.generator",
        )


def check_plane_layout(generator: str, segments: list[Segment], tokens: int, patch: int) -> None:
    """ConfigError unless the stacker's planes hold the latent's `tokens` and `patch` divides
    every plane (the checks of every generator that patchifies the tokens stacker's planes)."""
    if sum(s.length for s in segments) != tokens:
        raise ConfigError(f"{generator}: the stacker's planes hold {sum(s.length for s in segments)} tokens, "
                          f"latent_shape says {tokens}", path="model.generator")
    for s in segments:
        if s.a % patch or s.b % patch:
            raise ConfigError(f"{generator} patch {patch} does not divide plane {s.name} ({s.a} x {s.b}); "
                              "set model.generator.patch to a common divisor", path="model.generator.patch")


def patchify_planes(x: Tensor, segments: list[Segment], patch: int) -> Tensor:
    """Token latent (B, C, N) -> patches (B, T, C*p*p), plane by plane (no patch straddles two
    planes), each plane's patches row-major; T = sum over planes of (a/p) * (b/p)."""
    p = patch
    parts = [rearrange(x[:, :, s.offset : s.offset + s.length], "b c (h ph w pw) -> b (h w) (c ph pw)",
                       ph=p, pw=p, w=s.b // p) for s in segments]
    return torch.cat(parts, dim=1)


def unpatchify_planes(x: Tensor, segments: list[Segment], patch: int) -> Tensor:
    """Patches (B, T, C*p*p) -> token latent (B, C, N); the inverse of patchify_planes."""
    p, parts, start = patch, [], 0
    for s in segments:
        count = (s.a // p) * (s.b // p)
        parts.append(rearrange(x[:, start : start + count], "b (h w) (c ph pw) -> b c (h ph w pw)",
                               ph=p, pw=p, w=s.b // p))
        start += count
    return torch.cat(parts, dim=2)


class TokenDiTParams(ComponentParams):
    preset: Literal["tiny", "small", "base", "paper", "opensora_xl"] = Field(
        "tiny", description="size preset (depth, width, heads, MLP ratio; the patch is `patch`)")
    depth: int | None = Field(None, ge=1, description="number of blocks (None: the preset's)")
    hidden: int | None = Field(None, ge=4, description="transformer width (None: the preset's)")
    heads: int | None = Field(None, ge=1, description="attention heads (None: the preset's)")
    mlp_ratio: float | None = Field(None, gt=0, description="MLP width / transformer width (None: the preset's)")
    patch: int = Field(2, ge=1, description="square patch side inside each plane")
    checkpoint_blocks: int = Field(0, ge=0, description="recompute the activations of this many blocks in backward; 0 = off")


class TokenDiT(nn.Module):
    """Velocity network on token latents: x (B, C, N), t (B,), cond (B, L, Dc) -> (B, C, N)."""

    def __init__(self, latent_shape: tuple[int, ...], cond_dim: int, segments: list[Segment], size: L.Size,
                 patch: int, checkpoint_blocks: int = 0):
        super().__init__()
        c, n = latent_shape
        check_plane_layout("token_dit", segments, n, patch)
        self.latent_shape, self.cond_dim, self.size, self.p = (c, n), cond_dim, size, patch
        self.segments, self.checkpoint_blocks = list(segments), checkpoint_blocks
        d, patch_dim = size.hidden, c * patch * patch
        self.patch_embed = nn.Linear(patch_dim, d)
        self.plane_embed = nn.Embedding(len(PLANE_NAMES), d)
        ids = torch.cat([torch.full(((s.a // patch) * (s.b // patch),), s.type_id) for s in segments])
        self.register_buffer("plane_ids", ids, persistent=False)  # (T,)
        pos = torch.cat([sincos_2d(s.a // patch, s.b // patch, d) for s in segments])
        self.register_buffer("pos", pos, persistent=False)  # (T, D)
        self.t_embed = TimestepEmbedder(d)
        self.adaln = L.AdaLNSingle(d, DiTBlock.K)
        self.y_embed = L.condition_embedder(cond_dim, d)
        self.blocks = nn.ModuleList(DiTBlock(d, size.heads, size.mlp_ratio) for _ in range(size.depth))
        self.final = L.FinalLayer(d, patch_dim)
        L.init_weights(self)
        nn.init.normal_(self.plane_embed.weight, std=0.02)

    @property
    def num_tokens(self) -> int:
        return int(self.plane_ids.numel())

    def patchify(self, x: Tensor) -> Tensor:
        """(B, C, N) -> (B, T, C*p*p), plane by plane."""
        return patchify_planes(x, self.segments, self.p)

    def unpatchify(self, x: Tensor) -> Tensor:
        """(B, T, C*p*p) -> (B, C, N)."""
        return unpatchify_planes(x, self.segments, self.p)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """x (B, C, N), t (B,) or scalar in [0, 1], cond (B, L, Dc) -> (B, C, N)."""
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])  # (B,)
        h = self.patch_embed(self.patchify(x))  # (B, T, D)
        h = h + self.plane_embed(self.plane_ids)[None] + self.pos[None]  # (B, T, D)
        t_emb = self.t_embed(t)  # (B, D)
        mod = self.adaln(t_emb)  # (B, K, D)
        y = self.y_embed(cond)  # (B, L, D)
        h = run_blocks(self.blocks, h, y, mod, self.checkpoint_blocks if self.training else 0)  # (B, T, D)
        return self.unpatchify(self.final(h, t_emb))  # (B, C, N)

    def describe(self, cond_tokens: int = 1) -> dict[str, Any]:
        """Parameters, tokens per sample and analytic forward FLOPs per sample (as stdit's)."""
        d, n, patch_dim = self.size.hidden, self.num_tokens, self.patch_embed.in_features
        block = (L.self_attention_flops(n, n, d) + L.cross_attention_flops(n, cond_tokens, d)
                 + L.mlp_flops(n, d, int(d * self.size.mlp_ratio)))
        flops = (L.embedder_flops(d, self.cond_dim, cond_tokens, DiTBlock.K) + L.linear_flops(n, patch_dim, d)
                 + self.size.depth * block + L.linear_flops(n, d, patch_dim))
        return {"parameters": sum(p.numel() for p in self.parameters()), "tokens_per_sample": n,
                "flops_per_sample": flops, "latent_shape": self.latent_shape, "depth": self.size.depth,
                "hidden": d, "heads": self.size.heads, "patch": self.p,
                "flops_counted": "forward, one sample: Linear 2mnk, attention QK^T and AV; "
                                 "norms/activations/softmax/embedding lookups excluded"}


def make_token_dit(preset: str, depth: int | None, hidden: int | None, heads: int | None, mlp_ratio: float | None,
                   patch: int, checkpoint_blocks: int, latent_shape: tuple[int, ...], cond_dim: int,
                   stacker: Any = None) -> TokenDiT:
    """Registry factory: needs the `tokens` stacker (factory context) for the plane layout."""
    require_token_stacker("token_dit", latent_shape, stacker, "For the 'stack6' stacker use generator 'stdit'.")
    size = L.resolve_size(preset, depth=depth, hidden=hidden, heads=heads, mlp_ratio=mlp_ratio)
    return TokenDiT(latent_shape, cond_dim, stacker.segments, size, patch, checkpoint_blocks)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("generator", "token_dit", make_token_dit, TokenDiTParams,
                 "plain DiT over the 'tokens' stacker's sequence, learned plane-type + 2-D position embeddings")
