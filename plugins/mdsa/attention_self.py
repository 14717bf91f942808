"""Self-attention blocks of MDSA's multi-scale attention (paper §3.1), separate weights per
stream.

`spatial_selfattn` (on z_hw): a pre-norm transformer block over all positions of a plane;
on a volume it attends within each frame (over H' x W').

`mt_selfattn` (on z_tw and z_th, Eq. 4-5): along the temporal axis S[0], the stream is
average-pooled by each scale k in `scales` (paper: 1, 2, 4), self-attention runs over the
pooled frames at every other position, a transposed convolution with kernel = stride = k
brings each scale back to T frames, and the three results are summed onto the input
(residual), followed by an MLP. T need not be a multiple of k: the sequence is padded at its
end by repeating the last frame to a multiple of k before pooling, and the upsampled result
is cropped back to exactly T.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from einops import rearrange
from pydantic import Field
from torch import Tensor, nn

from proav_core import ComponentParams
from proav_core.attention_streams import MODALITIES, PerStreamBlock, check_dim, check_streams
from proav_core.layers import Attention, Mlp, TransformerBlock


class SpatialParams(ComponentParams):
    heads: int = Field(4, ge=1, description="attention heads")
    mlp_ratio: float = Field(4.0, gt=0, description="MLP hidden width / dim")


class SpatialSelfAttention(PerStreamBlock):
    """Plane (B, D, a, b): attention over the a*b positions. Volume (B, D, T, H, W): over
    H*W within each frame. Shapes preserved."""

    def __init__(self, heads: int, mlp_ratio: float, dim: int = 64, streams: tuple[str, ...] = MODALITIES):
        super().__init__()
        check_dim(dim, heads, "spatial_selfattn")
        hidden = max(1, round(dim * mlp_ratio))
        self.per_stream = nn.ModuleDict({s: TransformerBlock(dim, heads, hidden) for s in check_streams(streams)})

    def transform(self, block: nn.Module, x: Tensor) -> Tensor:
        if x.dim() == 4:
            _, _, a, _ = x.shape
            out = block(rearrange(x, "b d p q -> b (p q) d"))  # (B, a*b, D)
            return rearrange(out, "b (p q) d -> b d p q", p=a)  # (B, D, a, b)
        b, _, _, h, _ = x.shape
        out = block(rearrange(x, "b d t h w -> (b t) (h w) d"))  # (B*T, H*W, D)
        return rearrange(out, "(b t) (h w) d -> b d t h w", b=b, h=h)  # (B, D, T, H, W)


class MtParams(ComponentParams):
    heads: int = Field(4, ge=1, description="attention heads")
    scales: list[int] = Field([1, 2, 4], min_length=1, description="temporal pooling factors (paper: 1, 2, 4)")
    mlp_ratio: float = Field(4.0, gt=0, description="MLP hidden width / dim")


class TemporalScale(nn.Module):
    """One scale k of MT-SelfAttn: pool by k -> attention over time -> DeConv_k -> T frames."""

    def __init__(self, dim: int, heads: int, k: int):
        super().__init__()
        self.k = k
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.up = nn.ConvTranspose1d(dim, dim, kernel_size=k, stride=k)

    def forward(self, seq: Tensor) -> Tensor:
        """seq (N, D, T) -> (N, D, T)."""
        t = seq.shape[-1]
        padded = F.pad(seq, (0, math.ceil(t / self.k) * self.k - t), mode="replicate")  # (N, D, k*ceil(T/k))
        pooled = F.avg_pool1d(padded, self.k)  # (N, D, T_k)
        tokens = rearrange(pooled, "n d t -> n t d")  # (N, T_k, D)
        tokens = self.attn(self.norm(tokens))  # (N, T_k, D)
        return self.up(rearrange(tokens, "n t d -> n d t"))[..., :t]  # (N, D, T)


class MultiScaleTemporal(nn.Module):
    """Sum of the temporal scales as a residual, then a pre-norm MLP. (N, D, T) -> (N, D, T)."""

    def __init__(self, dim: int, heads: int, scales: list[int], mlp_ratio: float):
        super().__init__()
        self.scales = nn.ModuleList(TemporalScale(dim, heads, k) for k in scales)
        self.norm = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, max(1, round(dim * mlp_ratio)))

    def forward(self, seq: Tensor) -> Tensor:
        seq = seq + sum(scale(seq) for scale in self.scales)  # (N, D, T), Eq. 5 plus residual
        tokens = rearrange(seq, "n d t -> n t d")  # (N, T, D)
        tokens = tokens + self.mlp(self.norm(tokens))  # (N, T, D)
        return rearrange(tokens, "n t d -> n d t")  # (N, D, T)


class MultiScaleTemporalSelfAttention(PerStreamBlock):
    """Plane (B, D, T, S) or volume (B, D, T, H, W): MT-SelfAttn along T at every other
    position. Shapes preserved, any T >= 1."""

    def __init__(self, heads: int, scales: list[int], mlp_ratio: float, dim: int = 64,
                 streams: tuple[str, ...] = MODALITIES):
        super().__init__()
        check_dim(dim, heads, "mt_selfattn")
        if any(k < 1 for k in scales):
            raise ValueError(f"mt_selfattn scales must be >= 1, got {scales}")
        self.per_stream = nn.ModuleDict(
            {s: MultiScaleTemporal(dim, heads, scales, mlp_ratio) for s in check_streams(streams)}
        )

    def transform(self, block: nn.Module, x: Tensor) -> Tensor:
        seq = rearrange(x, "b d t ... -> b ... d t")  # (B, *R, D, T)
        rest = seq.shape[1:-2]
        out = block(seq.reshape(-1, *seq.shape[-2:]))  # (B*R, D, T)
        return rearrange(out.reshape(x.shape[0], *rest, *out.shape[-2:]), "b ... d t -> b d t ...")
