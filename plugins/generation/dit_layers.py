"""Pieces shared by the diffusion transformers (stdit, token_dit): size presets, the
zero-initialised final layer, initialisation and the matmul FLOP counts their `describe()`
reports. The timestep embedding and the adaptive-norm modulation are proav_core.layers'
(TimestepEmbedder, modulate; re-exported here).

Timestep conditioning is adaLN-single (PixArt-alpha, as in Open-Sora's STDiT): one shared
SiLU -> Linear maps the timestep embedding to K modulation vectors; each block adds its own
learned table (K, D). Both start at zero, so every gate is 0 and every block starts as the
identity (DiT's adaLN-Zero); the final projection is zero too, so a fresh model outputs 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from proav_core.errors import ConfigError
from proav_core.layers import Mlp, TimestepEmbedder, modulate  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Size:
    """A transformer size: blocks, width, heads, MLP ratio, patch (frames, rows, cols)."""

    depth: int
    hidden: int
    heads: int
    mlp_ratio: float
    patch: tuple[int, int, int]


# paper: 16 STDiT blocks, other sizes as Open-Sora (width 1152, 16 heads, MLP ratio 4) and
# "patch size 4x4x1" (appendix 5.2). opensora_xl: Open-Sora's STDiT-XL/2 (28 blocks, 1x2x2).
PRESETS: dict[str, Size] = {
    "tiny": Size(2, 64, 4, 4.0, (1, 2, 2)),
    "small": Size(8, 384, 6, 4.0, (1, 2, 2)),
    "base": Size(12, 768, 12, 4.0, (1, 2, 2)),
    "paper": Size(16, 1152, 16, 4.0, (1, 4, 4)),
    "opensora_xl": Size(28, 1152, 16, 4.0, (1, 2, 2)),
}


def resolve_size(preset: str, **overrides) -> Size:
    """The preset with every override that is not None applied; checks heads divide width."""
    size = dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    size = dataclasses.replace(size, patch=tuple(size.patch))
    if size.hidden % size.heads:
        raise ConfigError(f"model.generator: width hidden={size.hidden} is not divisible by heads={size.heads}; "
                          "change hidden or heads", path="model.generator.heads")
    if size.hidden % 4:
        raise ConfigError(f"model.generator: width hidden={size.hidden} must be a multiple of 4 (2-D sin-cos "
                          "positions)", path="model.generator.hidden")
    return size


def norm(dim: int) -> nn.LayerNorm:
    """LayerNorm without affine parameters (the modulation provides shift and scale)."""
    return nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


class AdaLNSingle(nn.Module):
    """Shared timestep -> K modulation vectors: (B, D) -> (B, K, D); zero at initialisation."""

    def __init__(self, dim: int, k: int):
        super().__init__()
        self.k = k
        self.act = nn.SiLU()
        self.linear = nn.Linear(dim, k * dim)

    def forward(self, t_emb: Tensor) -> Tensor:
        return self.linear(self.act(t_emb)).unflatten(-1, (self.k, -1))  # (B, K, D)


class FinalLayer(nn.Module):
    """Norm, timestep shift/scale, zero-initialised projection: (B, ..., D) -> (B, ..., out)."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.norm = norm(dim)
        self.table = nn.Parameter(torch.zeros(2, dim))
        self.linear = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor, t_emb: Tensor) -> Tensor:
        """x (B, *S, D), t_emb (B, D) -> (B, *S, out)."""
        mod = self.table[None] + t_emb[:, None]  # (B, 2, D)
        view = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        shift, scale = mod[:, 0].reshape(view), mod[:, 1].reshape(view)
        return self.linear(modulate(self.norm(x), shift, scale))  # (B, *S, out)


def condition_embedder(cond_dim: int, dim: int) -> Mlp:
    """Condition tokens (B, L, Dc) -> (B, L, D), like Open-Sora's caption projection."""
    return Mlp(cond_dim, dim, dim)


def init_weights(model: nn.Module) -> None:
    """Xavier-uniform Linear weights, zero biases (DiT); then the zero-inits that make every
    block the identity and the output zero: the shared modulation linear and the final
    projection (the per-block modulation tables are created as zeros)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, TimestepEmbedder):
            nn.init.normal_(m.mlp[0].weight, std=0.02)
            nn.init.normal_(m.mlp[2].weight, std=0.02)
        if isinstance(m, AdaLNSingle):
            nn.init.zeros_(m.linear.weight)
            nn.init.zeros_(m.linear.bias)
        if isinstance(m, FinalLayer):
            nn.init.zeros_(m.linear.weight)
            nn.init.zeros_(m.linear.bias)


# FLOP counting: 2*m*n*k per matmul (every nn.Linear), 2*Nq*Nk*D each for attention's
# Q K^T and A V. Norms, activations, softmax, elementwise ops and embeddings are not counted.


def linear_flops(tokens: int, d_in: int, d_out: int) -> int:
    return 2 * tokens * d_in * d_out


def attention_flops(n_q: int, n_k: int, dim: int, groups: int = 1) -> int:
    """Q K^T plus A V over `groups` independent attentions of n_q queries and n_k keys."""
    return groups * 2 * (2 * n_q * n_k * dim)


def embedder_flops(dim: int, cond_dim: int, cond_tokens: int, k: int, freq_dim: int = 256) -> int:
    """Per sample: timestep MLP, shared adaLN linear (K*D outputs), condition MLP."""
    t = linear_flops(1, freq_dim, dim) + linear_flops(1, dim, dim) + linear_flops(1, dim, k * dim)
    y = linear_flops(cond_tokens, cond_dim, dim) + linear_flops(cond_tokens, dim, dim)
    return t + y


def cross_attention_flops(tokens: int, cond_tokens: int, dim: int) -> int:
    """q, kv, proj and attention of `tokens` queries over `cond_tokens` keys (width D). One
    key is a broadcast (proav_core.layers.Attention): v and proj of that token only."""
    if cond_tokens == 1:
        return 2 * linear_flops(1, dim, dim)
    return (linear_flops(tokens, dim, dim) + linear_flops(cond_tokens, dim, 2 * dim)
            + attention_flops(tokens, cond_tokens, dim) + linear_flops(tokens, dim, dim))


def self_attention_flops(tokens: int, group: int, dim: int) -> int:
    """qkv and proj on all `tokens`, attention within groups of `group` tokens."""
    return (linear_flops(tokens, dim, 3 * dim) + attention_flops(group, group, dim, tokens // group)
            + linear_flops(tokens, dim, dim))


def mlp_flops(tokens: int, dim: int, hidden: int) -> int:
    return linear_flops(tokens, dim, hidden) + linear_flops(tokens, hidden, dim)
