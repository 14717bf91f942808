"""uniform: UniForm (papers/uniform.txt) on the `tokens` stacker: one DiT over the audio and
video latent tokens together, the condition tokens (class + task) inside the sequence.

What UniForm does (§III-B, Fig. 2) and what this module does with it:

- One unified latent. UniForm reshapes the video latent (C, T, H, W) and the audio latent
  (C, T_a, F, 1), concatenates them along the last axis and runs one shared DiT, so every
  frame holds the video and the audio of the same instant. Here the latent is ProAV's six
  planes from the `tokens` stacker, patchified per plane (token_dit's patches), all in one
  sequence. A token's embedding = its patch projection + a learned *group* embedding (video,
  audio or condition: UniForm's modality token groups) + a learned *axis* embedding (hw, tw
  or th, shared by the two modalities) + a fixed sin-cos embedding of its (row, col) in its
  plane, the rows of the tw and th planes (their time axis) scaled to one common time grid so
  that audio and video of the same instant get the same time position.
- STDiT3 blocks (Open-Sora 1.2), alternating a *spatial* and a *temporal* block, each with
  self-attention, cross-attention to the condition and an MLP (dit_blocks.DiTBlock, whose
  self-attention is restricted by a mask). The triplane latent forces the meaning of
  "frame": the tw and th planes have a time axis (rows), hw has none. Chosen:
  spatial block = one instant: the row-t tokens of video_tw, video_th, audio_tw and audio_th
  attend to each other (audio and video of the same instant together, UniForm's per-frame
  concatenation), plus to every hw token; the hw planes are time-invariant, so they belong to
  every instant and attend to all tokens. Temporal block = along time: each column of each
  tw/th plane attends over its rows; an hw token has no time axis and attends to itself only.
  `depth` counts (spatial, temporal) pairs, as Open-Sora's STDiT3 depth does.
- Task tokens in context. UniForm passes the task ID through a task tokenizer and
  concatenates the task token with the latent tokens. In proav the task reaches a generator
  only through the condition: proav_core.training.task_mix.TaskMix adds a learned task
  embedding to every condition token (multi-task training and `proav sample --task`), so the
  condition tokens *are* the task (+ class) tokens. They are embedded (condition MLP +
  the condition group embedding) and prepended to the sequence as a prefix that takes part in
  every self-attention (every token sees them, they see every token), and dropped before the
  final layer. UniForm also has cross-attention to its text (T5) tokens in every block; here
  the same condition tokens feed the cross-attention too, because proav has one condition
  stream (class or prompt, task added). Differences from the paper: the task is not a token of
  its own but summed into each condition token; there is no separate text stream; UniForm's
  "task-specific noise schemes" (the given modality enters without noise) are TaskMix's given
  planes entering clean, with the loss only on generated planes; UniForm predicts DDPM noise
  and variance, here the velocity of the configured flow objective; UniForm starts from
  image-pretrained weights, here training starts from scratch.
- Timestep: adaLN-single (shared modulation + per-block tables, all zero), zero-initialised
  final layer: a fresh model outputs exactly 0 (dit_layers).

How it differs from token_dit (also a DiT over the tokens stacker): token_dit runs full
self-attention over all tokens and sees the condition only through cross-attention, with one
learned embedding per plane type (6, audio and video unrelated). uniform puts the condition
in the sequence (in-context prefix), alternates instant-wise (cross-modal, time-aligned) and
time-wise attention instead of full attention, and embeds modality and plane axis separately
with a time position shared by audio and video. Attention is computed as one masked SDPA call
over the whole sequence (so `describe()` counts full attention FLOPs: what runs).

Details the paper leaves open. Sizes: UniForm says only "STDiT3 blocks" from Open-Sora with
image-pretrained (PixArt) weights, which fixes Open-Sora 1.2's STDiT3-XL/2: 28 pairs, width
1152, 16 heads, MLP ratio 4, 2x2 patches (preset `opensora_xl`, configs/peers/uniform_paper.toml).
Time: instants are counted after patching (a 2x2 patch folds 2 time steps of a tw/th plane
into one row); ProAV's audio planes share the video's T, so their rows align one to one, and
a plane with fewer rows than the finest covers several instants (row k of R covers
[k * steps / R, (k + 1) * steps / R)). The prefix holds however many condition tokens the
conditioner gives (class_label: one; a text conditioner: its L tokens).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import proav_core
from proav_core import ComponentParams
from proav_core.errors import ConfigError
from proav_core.interfaces.autoencoder import PLANE_NAMES
from proav_core.layers import Attention, TimestepEmbedder, sincos_1d
from proav_plugins.generation import dit_layers as L
from proav_plugins.generation.dit_blocks import DiTBlock, run_blocks
from proav_plugins.generation.stackers import Segment
from proav_plugins.generation.token_dit import (
    check_plane_layout,
    patchify_planes,
    require_token_stacker,
    unpatchify_planes,
)

GROUPS = ("condition", "video", "audio")  # rows of the group (modality) embedding
AXES = ("hw", "tw", "th")  # rows of the axis embedding; tw and th have a time axis (their rows)


class UniFormParams(ComponentParams):
    preset: Literal["tiny", "small", "base", "paper", "opensora_xl"] = Field(
        "tiny", description="size preset (depth = (spatial, temporal) block pairs, width, heads, MLP ratio)")
    depth: int | None = Field(None, ge=1, description="(spatial, temporal) block pairs (None: the preset's)")
    hidden: int | None = Field(None, ge=4, description="transformer width (None: the preset's)")
    heads: int | None = Field(None, ge=1, description="attention heads (None: the preset's)")
    mlp_ratio: float | None = Field(None, gt=0, description="MLP width / transformer width (None: the preset's)")
    patch: int = Field(2, ge=1, description="square patch side inside each plane")
    checkpoint_blocks: int = Field(0, ge=0, description="recompute the activations of this many blocks in backward; 0 = off")


def _plane_layout(name: str, rows: int, cols: int, steps: int, first_column: int) -> dict[str, Tensor]:
    """One plane's patch grid (rows x cols, row-major; R = rows * cols tokens) on a time grid of
    `steps` instants: group (R,), axis (R,), row and col positions (R,) float64 (time rows
    scaled to the grid), member (R, steps) bool (the instants a token belongs to), column (R,)
    ids for temporal attention (tw/th: first_column + col; hw: one negative id per token)."""
    modality, axis = name.split("_")
    r = torch.arange(rows).repeat_interleave(cols)  # (R,)
    c = torch.arange(cols).repeat(rows)  # (R,)
    out = {"group": torch.full((rows * cols,), GROUPS.index(modality)),
           "axis": torch.full((rows * cols,), AXES.index(axis)), "col": c.double()}
    if axis == "hw":  # no time axis: part of every instant, alone along time
        out["row"] = r.double()
        out["member"] = torch.ones(rows * cols, steps, dtype=torch.bool)
        out["column"] = -1 - first_column - torch.arange(rows * cols)
        return out
    out["row"] = r.double() * steps / rows  # row k covers instants [k * steps / rows, (k + 1) * steps / rows)
    step = torch.arange(steps)
    out["member"] = (step[None] >= r[:, None] * steps // rows) & (step[None] < (r[:, None] + 1) * steps // rows)
    out["column"] = first_column + c
    return out


class UnifiedLayout(nn.Module):
    """Where each patch token sits in the unified sequence and which tokens attend to which.

    Buffers (T = patch tokens): group_ids (T,) rows of GROUPS, axis_ids (T,) rows of AXES,
    pos (T, D) sin-cos of (row, col) with time rows on the common grid, spatial / temporal
    (T, T) bool attention masks (True = may attend). `mask(kind, prefix)` adds the condition
    prefix: (prefix + T, prefix + T), the prefix rows and columns all True. `steps`: the
    common time grid, the finest tw/th plane's rows (steps >= rows of every time plane).
    """

    def __init__(self, segments: list[Segment], patch: int, dim: int):
        super().__init__()
        target = torch.empty(0).device  # the default device (meta inside `with torch.device("meta")`)
        grids = [(s.name, s.a // patch, s.b // patch) for s in segments]  # (plane, rows, cols)
        self.steps = max((rows for name, rows, _ in grids if not name.endswith("_hw")), default=1)
        with torch.device("cpu"):  # the layout needs values: computed on the CPU, then moved
            planes, column = [], 0
            for name, rows, cols in grids:
                planes.append(_plane_layout(name, rows, cols, self.steps, column))
                column += rows * cols
            cat = {k: torch.cat([p[k] for p in planes]) for k in planes[0]}
            member = cat["member"].float()  # (T, steps)
            buffers = {
                "group_ids": cat["group"], "axis_ids": cat["axis"],
                "pos": torch.cat([sincos_1d(cat["row"], dim // 2), sincos_1d(cat["col"], dim // 2)], dim=1),
                "spatial": (member @ member.T) > 0,  # share an instant
                "temporal": cat["column"][:, None] == cat["column"][None, :],  # same column of the same plane
            }
        self.density = {k: float(buffers[k].float().mean()) for k in ("spatial", "temporal")}  # pairs allowed
        for key, value in buffers.items():
            self.register_buffer(key, value.to(target), persistent=False)

    @property
    def tokens(self) -> int:
        return int(self.group_ids.numel())

    def mask(self, kind: str, prefix: int) -> Tensor:
        """(prefix + T, prefix + T) bool: the `kind` mask, the prefix tokens visible both ways."""
        return F.pad(getattr(self, kind), (prefix, 0, prefix, 0), value=True)


class LayoutAttention(Attention):
    """Self-attention over the unified sequence restricted by the layout's `kind` mask:
    x (B, prefix + T, D) -> (B, prefix + T, D). The layout is shared, not a submodule."""

    def __init__(self, dim: int, heads: int, layout: UnifiedLayout, kind: Literal["spatial", "temporal"]):
        super().__init__(dim, heads)
        self._layout, self.kind = (layout,), kind  # a tuple: registered once, on the model

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        prefix = x.shape[1] - self._layout[0].tokens
        return super().forward(x, mask=self._layout[0].mask(self.kind, prefix)[None])  # (B, prefix + T, D)


def uniform_block(size: L.Size, layout: UnifiedLayout, kind: Literal["spatial", "temporal"]) -> DiTBlock:
    """A DiTBlock (self attn, cross attn, MLP; gates zero) whose self-attention is `kind`'s."""
    block = DiTBlock(size.hidden, size.heads, size.mlp_ratio)
    block.attn = LayoutAttention(size.hidden, size.heads, layout, kind)
    return block


class UniForm(nn.Module):
    """Velocity network on token latents: x (B, C, N), t (B,), cond (B, L, Dc) -> (B, C, N)."""

    def __init__(self, latent_shape: tuple[int, ...], cond_dim: int, segments: list[Segment], size: L.Size,
                 patch: int, checkpoint_blocks: int = 0):
        super().__init__()
        c, n = latent_shape
        check_plane_layout("uniform", segments, n, patch)
        self.latent_shape, self.cond_dim, self.size, self.p = (c, n), cond_dim, size, patch
        self.segments, self.checkpoint_blocks = list(segments), checkpoint_blocks
        d, patch_dim = size.hidden, c * patch * patch
        self.layout = UnifiedLayout(self.segments, patch, d)
        self.patch_embed = nn.Linear(patch_dim, d)
        self.group_embed = nn.Embedding(len(GROUPS), d)
        self.axis_embed = nn.Embedding(len(AXES), d)
        self.t_embed = TimestepEmbedder(d)
        self.adaln = L.AdaLNSingle(d, DiTBlock.K)
        self.y_embed = L.condition_embedder(cond_dim, d)
        self.blocks = nn.ModuleList(uniform_block(size, self.layout, kind)
                                    for _ in range(size.depth) for kind in ("spatial", "temporal"))
        self.final = L.FinalLayer(d, patch_dim)
        L.init_weights(self)
        nn.init.normal_(self.group_embed.weight, std=0.02)
        nn.init.normal_(self.axis_embed.weight, std=0.02)

    @property
    def num_tokens(self) -> int:
        return self.layout.tokens

    def patchify(self, x: Tensor) -> Tensor:
        """(B, C, N) -> (B, T, C*p*p), plane by plane."""
        return patchify_planes(x, self.segments, self.p)

    def unpatchify(self, x: Tensor) -> Tensor:
        """(B, T, C*p*p) -> (B, C, N)."""
        return unpatchify_planes(x, self.segments, self.p)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """x (B, C, N), t (B,) or scalar in [0, 1], cond (B, L, Dc) -> (B, C, N)."""
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])  # (B,)
        lay = self.layout
        h = self.patch_embed(self.patchify(x))  # (B, T, D)
        h = h + (self.group_embed(lay.group_ids) + self.axis_embed(lay.axis_ids) + lay.pos)[None]  # (B, T, D)
        y = self.y_embed(cond)  # (B, L, D)
        prefix = y + self.group_embed.weight[GROUPS.index("condition")]  # (B, L, D)
        h = torch.cat([prefix, h], dim=1)  # (B, L + T, D)
        t_emb = self.t_embed(t)  # (B, D)
        mod = self.adaln(t_emb)  # (B, K, D)
        h = run_blocks(self.blocks, h, y, mod, self.checkpoint_blocks if self.training else 0)  # (B, L + T, D)
        return self.unpatchify(self.final(h[:, y.shape[1]:], t_emb))  # (B, C, N)

    def describe(self, cond_tokens: int = 1) -> dict[str, Any]:
        """Parameters (total, trainable), tokens per sample (no padding: the tokens stacker has
        none; computed: the T latent tokens + the condition prefix, the sequence every block
        runs on) and analytic forward FLOPs per sample: every block's masked attention runs over
        the whole (prefix + T) sequence, counted so."""
        d, n, patch_dim = self.size.hidden, self.num_tokens, self.patch_embed.in_features
        seq = n + cond_tokens
        block = (L.self_attention_flops(seq, seq, d) + L.cross_attention_flops(seq, cond_tokens, d)
                 + L.mlp_flops(seq, d, int(d * self.size.mlp_ratio)))
        flops = (L.embedder_flops(d, self.cond_dim, cond_tokens, DiTBlock.K) + L.linear_flops(n, patch_dim, d)
                 + len(self.blocks) * block + L.linear_flops(n, d, patch_dim))
        return {"parameters": sum(p.numel() for p in self.parameters()),
                "trainable": sum(p.numel() for p in self.parameters() if p.requires_grad),
                "tokens_per_sample": n, "padded_token_share": 0.0, "computed_tokens_per_sample": seq,
                "flops_per_sample": flops, "latent_shape": self.latent_shape,
                "depth": self.size.depth, "blocks": len(self.blocks), "hidden": d, "heads": self.size.heads,
                "patch": self.p, "time_steps": self.layout.steps, "attention_density": self.layout.density,
                "flops_counted": "forward, one sample: Linear 2mnk, attention QK^T and AV over the whole masked "
                                 "sequence (condition prefix + tokens); norms/activations/softmax/embedding "
                                 "lookups excluded"}


def make_uniform(preset: str, depth: int | None, hidden: int | None, heads: int | None, mlp_ratio: float | None,
                 patch: int, checkpoint_blocks: int, latent_shape: tuple[int, ...], cond_dim: int,
                 stacker: Any = None) -> UniForm:
    """Registry factory: needs the `tokens` stacker (factory context) for the plane layout."""
    require_token_stacker("uniform", latent_shape, stacker)
    unknown = [s.name for s in stacker.segments if s.name not in PLANE_NAMES]
    if unknown:
        raise ConfigError(f"uniform: planes {unknown} are not among {', '.join(PLANE_NAMES)}", path="model.stacker")
    size = L.resolve_size(preset, depth=depth, hidden=hidden, heads=heads, mlp_ratio=mlp_ratio)
    return UniForm(latent_shape, cond_dim, stacker.segments, size, patch, checkpoint_blocks)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("generator", "uniform", make_uniform, UniFormParams,
                 "UniForm: one DiT over audio + video tokens, condition/task tokens in context, "
                 "alternating instant-wise and time-wise attention")
