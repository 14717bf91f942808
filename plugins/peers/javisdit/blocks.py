"""The blocks of `javisdit` (JavisDiT, peer of ProAV-DiT): one branch block per modality and the
multi-modal bidirectional cross-attention (MM-BiCrossAttn) between the two branches.

A branch block works on one modality's tokens x (B, N, D) in this order (paper, "Overall
Architecture"): spatio-temporal self-attention (a spatial and a temporal attention, each
restricted by a boolean token mask the generator builds from the plane layout), cross-attention
to the condition tokens, fine-grained spatio-temporal cross-attention to the prior tokens (only
when the generator has a prior), and after the bidirectional cross-attention an MLP. Every
branch is a gated residual whose shift/scale/gate come from the shared adaLN-single
modulation plus the block's own table, all zero at initialisation, so every block starts as
the identity (as dit_blocks.DiTBlock).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from proav_core.layers import Attention, Mlp, modulate
from proav_plugins.generation.dit_blocks import _rows
from proav_plugins.generation.dit_layers import norm

# modulation rows of a branch block, in table order; "prior_gate" only with a prior
ROWS = ("spatial_shift", "spatial_scale", "spatial_gate", "temporal_shift", "temporal_scale", "temporal_gate",
        "cross_gate", "prior_gate", "bicross_gate", "mlp_shift", "mlp_scale", "mlp_gate")


def row_names(with_prior: bool) -> tuple[str, ...]:
    """The modulation rows a branch block uses (K = 12 with a prior, 11 without)."""
    return ROWS if with_prior else tuple(r for r in ROWS if r != "prior_gate")


class BranchBlock(nn.Module):
    """One modality's half of a JavisDiT layer. x (B, N, D), y (B, L, D) -> (B, N, D)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, prior_dim: int | None):
        super().__init__()
        self.rows = row_names(prior_dim is not None)
        self.norm_s, self.attn_s = norm(dim), Attention(dim, heads)
        self.norm_t, self.attn_t = norm(dim), Attention(dim, heads)
        self.norm_c, self.attn_c = norm(dim), Attention(dim, heads, context_dim=dim)
        if prior_dim is not None:
            self.norm_p, self.attn_p = norm(dim), Attention(dim, heads, context_dim=prior_dim)
        self.norm_x = norm(dim)  # input norm of the bidirectional cross-attention
        self.norm_m, self.mlp = norm(dim), Mlp(dim, int(dim * mlp_ratio))
        self.table = nn.Parameter(torch.zeros(len(self.rows), dim))

    def modulation(self, mod: Tensor) -> dict[str, Tensor]:
        """mod (B, K, D) -> the named rows, each (B, 1, D)."""
        return dict(zip(self.rows, _rows(self.table[None] + mod, 3), strict=True))

    def attend(self, x: Tensor, y: Tensor, m: dict[str, Tensor], masks: dict[str, Tensor],
               prior: Tensor | None) -> Tensor:
        """Self-attention (spatial, temporal), condition and prior cross-attention.
        x (B, N, D), y (B, L, D), masks: spatial/temporal (N, N), temporal_keep (N, 1),
        prior (N, P) bool; prior tokens (B, P, Dp) or None -> (B, N, D)."""
        b = x.shape[0]
        h = modulate(self.norm_s(x), m["spatial_shift"], m["spatial_scale"])  # (B, N, D)
        x = x + m["spatial_gate"] * self.attn_s(h, mask=masks["spatial"].expand(b, -1, -1))  # (B, N, D)
        h = modulate(self.norm_t(x), m["temporal_shift"], m["temporal_scale"])  # (B, N, D)
        temporal = self.attn_t(h, mask=masks["temporal"].expand(b, -1, -1)) * masks["temporal_keep"]  # (B, N, D)
        x = x + m["temporal_gate"] * temporal  # (B, N, D)
        x = x + m["cross_gate"] * self.attn_c(self.norm_c(x), context=y)  # (B, N, D)
        if prior is not None:
            mask = masks["prior"].expand(b, -1, -1)  # (B, N, P)
            x = x + m["prior_gate"] * self.attn_p(self.norm_p(x), context=prior, mask=mask)  # (B, N, D)
        return x

    def feed_forward(self, x: Tensor, m: dict[str, Tensor]) -> Tensor:
        """Gated MLP: (B, N, D) -> (B, N, D)."""
        return x + m["mlp_gate"] * self.mlp(modulate(self.norm_m(x), m["mlp_shift"], m["mlp_scale"]))  # (B, N, D)


class BiCrossAttention(nn.Module):
    """MM-BiCrossAttn: one score matrix S = q_v k_a^T / sqrt(d) per head between video queries
    and audio keys; video receives softmax(S) v_a (audio -> video), audio receives
    softmax(S^T) v_v (video -> audio). video (B, Nv, D), audio (B, Na, D) -> the two updates."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.video_qv = nn.Linear(dim, 2 * dim)  # video query and value
        self.audio_kv = nn.Linear(dim, 2 * dim)  # audio key and value
        self.video_proj, self.audio_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, video: Tensor, audio: Tensor) -> tuple[Tensor, Tensor]:
        """video (B, Nv, D), audio (B, Na, D) -> (B, Nv, D), (B, Na, D)."""
        q_v, v_v = rearrange(self.video_qv(video), "b n (two h e) -> two b h n e", two=2, h=self.heads)
        k_a, v_a = rearrange(self.audio_kv(audio), "b n (two h e) -> two b h n e", two=2, h=self.heads)
        to_video = F.scaled_dot_product_attention(q_v, k_a, v_a)  # softmax(S) v_a: (B, h, Nv, e)
        to_audio = F.scaled_dot_product_attention(k_a, q_v, v_v)  # softmax(S^T) v_v: (B, h, Na, e)
        merge = "b h n e -> b n (h e)"
        return self.video_proj(rearrange(to_video, merge)), self.audio_proj(rearrange(to_audio, merge))


class JavisLayer(nn.Module):
    """Video block, audio block and the MM-BiCrossAttn between them, MLPs last."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, prior_dim: int | None):
        super().__init__()
        self.video = BranchBlock(dim, heads, mlp_ratio, prior_dim)
        self.audio = BranchBlock(dim, heads, mlp_ratio, prior_dim)
        self.bicross = BiCrossAttention(dim, heads)

    def forward(self, video: Tensor, audio: Tensor, y: Tensor, mod: Tensor, masks: dict[str, dict[str, Tensor]],
                prior: Tensor | None) -> tuple[Tensor, Tensor]:
        """video (B, Nv, D), audio (B, Na, D), y (B, L, D), mod (B, K, D) -> same shapes."""
        mv, ma = self.video.modulation(mod), self.audio.modulation(mod)
        video = self.video.attend(video, y, mv, masks["video"], prior)  # (B, Nv, D)
        audio = self.audio.attend(audio, y, ma, masks["audio"], prior)  # (B, Na, D)
        to_video, to_audio = self.bicross(self.video.norm_x(video), self.audio.norm_x(audio))
        video = video + mv["bicross_gate"] * to_video  # (B, Nv, D)
        audio = audio + ma["bicross_gate"] * to_audio  # (B, Na, D)
        return self.video.feed_forward(video, mv), self.audio.feed_forward(audio, ma)
