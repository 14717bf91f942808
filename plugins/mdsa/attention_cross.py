"""Cross-modal blocks of MDSA (paper §3.1). Both start as the identity: their output
projections are zero-initialised (DiT style), so a freshly built autoencoder behaves as two
single-stream ones until training opens the exchange.

`gcm_attn` (Eq. 6): between the same plane of audio and video, both directions at once,
residual: a' = a + CA(q = a, kv = v), v' = v + CA(q = v, kv = a) (both from the inputs).

`bi_block_crossattn` (Eq. 8): the same exchange restricted to non-overlapping blocks of the
stream (paper: of the decoder's T x H' x W' volume); positions never attend across blocks.
Sizes that are not whole blocks are zero-padded at the end, the padded keys are masked out,
and the result is cropped back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from pydantic import Field
from torch import Tensor, nn

from proav_core import ComponentParams
from proav_core.attention_streams import MODALITIES, check_dim, check_streams, from_tokens, to_tokens
from proav_core.layers import Attention


class CrossAttention(nn.Module):
    """q + Attn(LN q, LN kv) with the output projection zero-initialised.
    q (B, N, D), kv (B, M, D), mask (B, N, M) bool or None -> (B, N, D)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, context_dim=dim)  # separate q and kv projections
        nn.init.zeros_(self.attn.proj.weight)
        nn.init.zeros_(self.attn.proj.bias)

    def forward(self, q: Tensor, kv: Tensor, mask: Tensor | None = None) -> Tensor:
        return q + self.attn(self.norm_q(q), self.norm_kv(kv), mask=mask)  # (B, N, D)


class CrossParams(ComponentParams):
    heads: int = Field(4, ge=1, description="attention heads")


class BidirectionalCross(nn.Module):
    """Holds audio<-video and video<-audio cross-attention when both streams are present;
    with a single stream it holds nothing and passes it through."""

    def __init__(self, heads: int, dim: int, streams: tuple[str, ...], what: str):
        super().__init__()
        check_dim(dim, heads, what)
        self.both = set(check_streams(streams)) == set(MODALITIES)
        if self.both:
            self.audio_from_video = CrossAttention(dim, heads)
            self.video_from_audio = CrossAttention(dim, heads)

    def exchange(self, v: Tensor, a: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """v, a (B, N, D) tokens -> both updated from the other's inputs."""
        return self.video_from_audio(v, a, mask), self.audio_from_video(a, v, mask)  # (B, N, D) each


class GcmAttention(BidirectionalCross):
    """Global cross-modal attention between aligned streams (B, D, *S); shapes preserved."""

    def __init__(self, heads: int, dim: int = 64, streams: tuple[str, ...] = MODALITIES):
        super().__init__(heads, dim, streams, "gcm_attn")

    def forward(self, video: Tensor | None, audio: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        if video is None or audio is None or not self.both:
            return video, audio
        v, a = self.exchange(to_tokens(video), to_tokens(audio))  # (B, N, D), (B, M, D)
        return from_tokens(v, video), from_tokens(a, audio)  # (B, D, *S) each


class BiBlockParams(ComponentParams):
    heads: int = Field(4, ge=1, description="attention heads")
    block: list[int] = Field(
        [2, 4, 4], min_length=2, max_length=3,
        description="block size along (T, H', W') of a volume; a plane uses the last two entries",
    )


class BiBlockCrossAttention(BidirectionalCross):
    """Cross-attention inside non-overlapping blocks; streams (B, D, *S) of equal shape."""

    def __init__(self, heads: int, block: list[int], dim: int = 64, streams: tuple[str, ...] = MODALITIES):
        super().__init__(heads, dim, streams, "bi_block_crossattn")
        if any(b < 1 for b in block):
            raise ValueError(f"bi_block_crossattn block sizes must be >= 1, got {block}")
        self.block = tuple(block)

    def _sizes(self, shape: torch.Size) -> tuple[int, ...]:
        if len(shape) == 3:
            return self.block if len(self.block) == 3 else (1, *self.block)
        return self.block[-2:]

    def forward(self, video: Tensor | None, audio: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        if video is None or audio is None or not self.both:
            return video, audio
        if video.shape != audio.shape:
            raise ValueError(f"bi_block_crossattn needs equal stream shapes, got {tuple(video.shape)} and {tuple(audio.shape)}")
        spatial = video.shape[2:]
        blocks = self._sizes(spatial)
        pads = [math.ceil(s / k) * k - s for s, k in zip(spatial, blocks, strict=True)]
        v, a = self._blocks(video, blocks, pads), self._blocks(audio, blocks, pads)  # (B*nb, n, D)
        mask = None
        if any(pads):
            valid = self._blocks(torch.ones_like(video[:, :1]), blocks, pads)[..., 0] > 0  # (B*nb, n)
            mask = valid[:, None, :].expand(-1, valid.shape[1], -1)  # (B*nb, n, n): real keys only
        v, a = self.exchange(v, a, mask)  # (B*nb, n, D) each
        return self._unblocks(v, video, blocks, pads), self._unblocks(a, audio, blocks, pads)

    @staticmethod
    def _blocks(x: Tensor, blocks: tuple[int, ...], pads: list[int]) -> Tensor:
        """(B, D, *S) -> (B * num_blocks, block volume, D), zero-padded to whole blocks."""
        pad = [p for extra in reversed(pads) for p in (0, extra)]
        x = F.pad(x, pad)  # (B, D, *S_padded)
        if len(blocks) == 2:
            return rearrange(x, "b d (p i) (q j) -> (b p q) (i j) d", i=blocks[0], j=blocks[1])
        return rearrange(x, "b d (p i) (q j) (r k) -> (b p q r) (i j k) d", i=blocks[0], j=blocks[1], k=blocks[2])

    @staticmethod
    def _unblocks(tokens: Tensor, like: Tensor, blocks: tuple[int, ...], pads: list[int]) -> Tensor:
        """Inverse of _blocks, cropped back to the shape of `like`."""
        b, padded = like.shape[0], [s + p for s, p in zip(like.shape[2:], pads, strict=True)]
        if len(blocks) == 2:
            x = rearrange(tokens, "(b p q) (i j) d -> b d (p i) (q j)", b=b, p=padded[0] // blocks[0],
                          i=blocks[0], j=blocks[1])
        else:
            x = rearrange(tokens, "(b p q r) (i j k) d -> b d (p i) (q j) (r k)", b=b,
                          p=padded[0] // blocks[0], q=padded[1] // blocks[1], i=blocks[0], j=blocks[1], k=blocks[2])
        return x[(slice(None), slice(None), *(slice(0, s) for s in like.shape[2:]))]  # (B, D, *S)
