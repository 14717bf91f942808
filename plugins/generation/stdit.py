"""STDiT: the spatio-temporal diffusion transformer of ProAV-DiT (paper §3.2, Open-Sora style).

Input: the frame-stacked latent (B, C, F, A, W) of the `stack6` stacker (F = 6 planes as
frames) or of `stack_packed` (F = 4 at the paper's sizes). Patch embedding with patch
(pf, ph, pw) gives F' = F/pf frames of S = (A/ph)(W/pw) tokens, plus fixed 2-D sin-cos
positions within a frame and 1-D sin-cos positions across frames. N blocks of spatial /
temporal / cross attention and MLP (dit_blocks.STDiTBlock), timestep conditioning by
adaLN-single, a zero-initialised final layer: a fresh model outputs exactly zero and every
block starts as the identity.

Padding. When the factory is offered the built `stacker` and it has a loss mask, the model
zeroes the padded latent positions at its input and output, so padding never reaches a loss
or a sample and its velocity is 0. `padding` says what the blocks do with the padded tokens
(patches without a real value): "skip" (default) drops them, each frame attending over its
real tokens and each position over the frames present there (real_tokens.py; no compute on
padding, output independent of what the padding holds); "compute" keeps the full grid, the
zeroed padding tokens attending and being attended like real ones (the path before issue 15).
Both modes have the same parameters, so a checkpoint loads in either; a model trained in one
mode computes a different function in the other.

Patch size. The paper's preset uses 1x4x4 (frames x rows x cols): appendix 5.2 sets "the
patch size to 4x4x1" for STDiT while otherwise following Open-Sora, whose STDiT-XL/2 uses
1x2x2 (preset `opensora_xl`). With the paper's 32x32 planes that is 6 x 64 = 384 tokens per
sample; `patch = [1, 2, 2]` gives 1536.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from einops import rearrange
from pydantic import Field, PositiveInt
from torch import Tensor, nn

import proav_core
from proav_core import ComponentParams
from proav_core.errors import ConfigError
from proav_core.layers import TimestepEmbedder, sincos_1d, sincos_2d
from proav_plugins.generation import dit_layers as L
from proav_plugins.generation.dit_blocks import STDiTBlock, run_blocks
from proav_plugins.generation.real_tokens import RealTokenLayout, RealTokenSTDiTBlock, real_flops

Preset = Literal["tiny", "small", "base", "paper", "opensora_xl"]
Padding = Literal["skip", "compute"]


class STDiTParams(ComponentParams):
    preset: Preset = Field("paper", description="size preset: tiny, small, base, paper (16x1152, 16 heads, "
                           "patch 1x4x4), opensora_xl (28x1152, patch 1x2x2)")
    depth: int | None = Field(None, ge=1, description="number of blocks (None: the preset's)")
    hidden: int | None = Field(None, ge=4, description="transformer width (None: the preset's)")
    heads: int | None = Field(None, ge=1, description="attention heads (None: the preset's)")
    mlp_ratio: float | None = Field(None, gt=0, description="MLP width / transformer width (None: the preset's)")
    patch: tuple[PositiveInt, PositiveInt, PositiveInt] | None = Field(None, description="patch (frames, rows, cols) (None: the preset's)")
    checkpoint_blocks: int = Field(0, ge=0, description="recompute the activations of this many blocks "
                                   "(from the first) in backward to save memory; 0 = off")
    padding: Padding = Field("skip", description="padded tokens of the stacker's latent: skip (attention over "
                             "real tokens only, no compute on padding) or compute (full token grid)")


class STDiT(nn.Module):
    """Velocity network on stacked latents: x (B, C, F, A, W), t (B,), cond (B, L, Dc) -> like x."""

    def __init__(self, latent_shape: tuple[int, ...], cond_dim: int, size: L.Size,
                 checkpoint_blocks: int = 0, mask: Tensor | None = None, padding: Padding = "skip"):
        super().__init__()
        c, f, a, w = _check_latent(latent_shape, size.patch)
        pf, ph, pw = size.patch
        self.latent_shape, self.cond_dim, self.size = tuple(latent_shape), cond_dim, size
        self.checkpoint_blocks = checkpoint_blocks
        self.grid = (f // pf, a // ph, w // pw)  # (F', rows, cols)
        d, patch_dim = size.hidden, pf * ph * pw * c
        self.patch_embed = nn.Linear(patch_dim, d)
        self.register_buffer("pos_spatial", sincos_2d(self.grid[1], self.grid[2], d), persistent=False)
        self.register_buffer("pos_temporal", sincos_1d(torch.arange(self.grid[0]).float(), d), persistent=False)
        self.t_embed = TimestepEmbedder(d)
        self.adaln = L.AdaLNSingle(d, STDiTBlock.K)
        self.y_embed = L.condition_embedder(cond_dim, d)
        if mask is not None and tuple(mask.shape) != tuple(latent_shape):
            raise ConfigError(f"stdit: the stacker's mask {tuple(mask.shape)} does not match latent_shape "
                              f"{tuple(latent_shape)}", path="model.stacker")
        real = None if mask is None else _real_tokens(mask.to("cpu", torch.float32), size.patch)  # (F', S)
        self.padding = padding
        grid_tokens = self.grid[0] * self.grid[1] * self.grid[2]
        self.real_tokens = grid_tokens if real is None else int(real.sum())
        self.real_token_fraction = self.real_tokens / grid_tokens
        self.layout = None
        if padding == "skip" and real is not None and not bool(real.all()):
            self.layout = RealTokenLayout(real).to(self.pos_spatial.device)
            self.blocks = nn.ModuleList(RealTokenSTDiTBlock(d, size.heads, size.mlp_ratio, self.layout)
                                        for _ in range(size.depth))
        else:
            self.blocks = nn.ModuleList(STDiTBlock(d, size.heads, size.mlp_ratio) for _ in range(size.depth))
        self.final = L.FinalLayer(d, patch_dim)
        mask = None if mask is None else mask.float().to(self.pos_spatial.device)  # (C, F, A, W)
        self.register_buffer("mask", mask, persistent=False)
        L.init_weights(self)

    def patchify(self, x: Tensor) -> Tensor:
        """(B, C, F, A, W) -> (B, F', S, pf*ph*pw*C)."""
        pf, ph, pw = self.size.patch
        return rearrange(x, "b c (f pf) (h ph) (w pw) -> b f (h w) (pf ph pw c)", pf=pf, ph=ph, pw=pw)

    def unpatchify(self, x: Tensor) -> Tensor:
        """(B, F', S, pf*ph*pw*C) -> (B, C, F, A, W)."""
        pf, ph, pw = self.size.patch
        return rearrange(x, "b f (h w) (pf ph pw c) -> b c (f pf) (h ph) (w pw)",
                         h=self.grid[1], pf=pf, ph=ph, pw=pw)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """x (B, C, F, A, W), t (B,) or scalar in [0, 1], cond (B, L, Dc) -> (B, C, F, A, W)."""
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])  # (B,)
        if self.mask is not None:
            x = x * self.mask  # padding never reaches the network
        t_emb = self.t_embed(t)  # (B, D)
        mod = self.adaln(t_emb)  # (B, K, D)
        y = self.y_embed(cond)  # (B, L, D)
        checkpoint_blocks = self.checkpoint_blocks if self.training else 0
        if self.layout is not None:  # real tokens only, packed as (B, 1, N, .)
            pos = (self.pos_spatial[None] + self.pos_temporal[:, None])[None]  # (1, F', S, D)
            h = self.patch_embed(self.layout.gather(self.patchify(x))) + self.layout.gather(pos)  # (B, 1, N, D)
            h = run_blocks(self.blocks, h, y, mod, checkpoint_blocks)  # (B, 1, N, D)
            out = self.unpatchify(self.layout.scatter(self.final(h, t_emb)))  # (B, C, F, A, W)
        else:
            h = self.patch_embed(self.patchify(x))  # (B, F', S, D)
            h = h + self.pos_spatial[None, None] + self.pos_temporal[None, :, None]  # (B, F', S, D)
            h = run_blocks(self.blocks, h, y, mod, checkpoint_blocks)  # (B, F', S, D)
            out = self.unpatchify(self.final(h, t_emb))  # (B, C, F, A, W)
        return out if self.mask is None else out * self.mask

    def describe(self, cond_tokens: int = 1) -> dict[str, Any]:
        """Parameters, tokens per sample and analytic forward FLOPs per sample.

        FLOPs count every nn.Linear as 2*m*n*k and attention's Q K^T and A V as 2*Nq*Nk*D
        each; norms, activations, softmax and elementwise ops are not counted.
        `cond_tokens` is the conditioner's L (1 for class_label's default).
        With padding "skip" the FLOPs and `computed_tokens_per_sample` count the real tokens only.
        """
        size, (fp, rows, cols) = self.size, self.grid
        d, s = size.hidden, rows * cols
        patch_dim = self.patch_embed.in_features
        if self.layout is None:
            n = fp * s
            attention = L.attention_flops(s, s, d, fp) + L.attention_flops(fp, fp, d, s)
        else:
            n = self.layout.tokens
            attention = sum(real_flops(self.layout, d))
        projections = 2 * (L.linear_flops(n, d, 3 * d) + L.linear_flops(n, d, d))  # spatial, temporal
        block = (projections + attention + L.cross_attention_flops(n, cond_tokens, d)
                 + L.mlp_flops(n, d, int(d * size.mlp_ratio)))
        flops = (L.embedder_flops(d, self.cond_dim, cond_tokens, STDiTBlock.K) + L.linear_flops(n, patch_dim, d)
                 + size.depth * block + L.linear_flops(n, d, patch_dim))
        out = {"parameters": sum(p.numel() for p in self.parameters()), "tokens_per_sample": fp * s,
               "computed_tokens_per_sample": n, "padding": self.padding,
               "padded_token_share": (fp * s - self.real_tokens) / (fp * s),
               "flops_per_sample": flops, "latent_shape": self.latent_shape, "token_grid": self.grid,
               "depth": size.depth, "hidden": d, "heads": size.heads, "patch": size.patch,
               "real_token_fraction": self.real_token_fraction,
               "flops_counted": "forward, one sample: Linear 2mnk, attention QK^T and AV; "
                                "norms/activations/softmax excluded"}
        return out


def _real_tokens(mask: Tensor, patch: tuple[int, int, int]) -> Tensor:
    """mask (C, F, A, W) -> (F', S) bool: the patch tokens holding at least one real latent value."""
    pf, ph, pw = patch
    tokens = rearrange(mask, "c (f pf) (h ph) (w pw) -> f (h w) (pf ph pw c)", pf=pf, ph=ph, pw=pw)
    return tokens.amax(dim=-1) > 0


def _check_latent(latent_shape: tuple[int, ...], patch: tuple[int, int, int]) -> tuple[int, int, int, int]:
    if len(latent_shape) != 4:
        raise ConfigError(
            f"generator 'stdit' needs a frame-stacked latent (C, F, A, W) from stacker 'stack6' (or "
            f"'stack_packed'); got latent_shape {tuple(latent_shape)}. For the 'tokens' stacker use "
            "generator 'token_dit'.",
            path="model.generator",
        )
    c, f, a, w = latent_shape
    if f % patch[0] or a % patch[1] or w % patch[2]:
        raise ConfigError(
            f"stdit patch {tuple(patch)} does not divide the latent (frames, rows, cols) = {(f, a, w)}; "
            "set model.generator.patch to divisors of them",
            path="model.generator.patch",
        )
    return c, f, a, w


def stacker_mask(stacker: Any) -> Tensor | None:
    """The stacker's loss mask when it has padding (some zero), else None."""
    if stacker is None or not hasattr(stacker, "loss_mask"):
        return None
    mask = stacker.loss_mask()
    return None if bool(mask.all()) else mask


def make_stdit(preset: str, depth: int | None, hidden: int | None, heads: int | None, mlp_ratio: float | None,
               patch: tuple[int, int, int] | None, checkpoint_blocks: int, latent_shape: tuple[int, ...],
               cond_dim: int, stacker: Any = None, padding: Padding = "skip") -> STDiT:
    """Registry factory: resolve the size, take the padding mask from the stacker if offered."""
    size = L.resolve_size(preset, depth=depth, hidden=hidden, heads=heads, mlp_ratio=mlp_ratio, patch=patch)
    return STDiT(latent_shape, cond_dim, size, checkpoint_blocks, stacker_mask(stacker), padding)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("generator", "stdit", make_stdit, STDiTParams,
                 "STDiT: spatial/temporal/cross-attention blocks on the stacked latent, adaLN-zero (paper §3.2)")
