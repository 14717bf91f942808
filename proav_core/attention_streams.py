"""The (video, audio) stream pair an `attention` block transforms; public API for plugin authors.

A stream is (B, D, *S): S a plane (two axes, e.g. (T, W') for a `tw` plane) or a volume
(T, H', W'); a temporal axis, when present, is S[0]. Either stream may be None (a
single-stream autoencoder). An attention factory is offered two context values: `dim` (D)
and `streams`, the tuple of modalities present ("video", "audio", or both), so a block
builds weights only for the streams it will see.

    MODALITIES                      ("video", "audio")
    check_streams(streams)          validate the `streams` context -> tuple
    check_dim(dim, heads, what)     ConfigError unless heads divides dim
    to_tokens(x), from_tokens(t, like)   (B, D, *S) <-> (B, N, D), N = prod(S)
    PerStreamBlock                  base class: separate weights per stream, each on its own

The first-party blocks (proav_plugins.mdsa) are built from these.
"""

from __future__ import annotations

from collections.abc import Iterable

from einops import rearrange
from torch import Tensor, nn

from proav_core.errors import ConfigError

MODALITIES = ("video", "audio")


def check_streams(streams: Iterable[str]) -> tuple[str, ...]:
    """The modalities a block is built for, validated: a non-empty subset of video, audio."""
    out = tuple(streams)
    bad = [s for s in out if s not in MODALITIES]
    if bad or not out:
        raise ConfigError(f"attention streams must be a non-empty subset of {MODALITIES}, got {out}")
    return out


def check_dim(dim: int, heads: int, what: str) -> None:
    """ConfigError naming `what` unless `heads` divides the width `dim`."""
    if dim % heads:
        raise ConfigError(f"{what}: width dim={dim} is not divisible by heads={heads}; change heads")


def to_tokens(x: Tensor) -> Tensor:
    """(B, D, *S) -> (B, N, D) with N = prod(S)."""
    return rearrange(x, "b d ... -> b (...) d")


def from_tokens(tokens: Tensor, like: Tensor) -> Tensor:
    """(B, N, D) -> the (B, D, *S) layout of `like`."""
    return rearrange(tokens, "b n d -> b d n").reshape(like.shape)


class PerStreamBlock(nn.Module):
    """Base of self-attention blocks: separate weights per stream (`self.per_stream`, an
    nn.ModuleDict keyed by modality), each stream transformed on its own by
    `transform(module, x)`, which subclasses implement: (B, D, *S) -> (B, D, *S)."""

    per_stream: nn.ModuleDict

    def transform(self, module: nn.Module, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _one(self, name: str, x: Tensor | None) -> Tensor | None:
        if x is None:
            return None
        if name not in self.per_stream:
            raise ValueError(f"{type(self).__name__} was built for streams {tuple(self.per_stream)}, got {name}")
        if x.dim() not in (4, 5):
            raise ValueError(f"{name} stream must be (B, D, a, b) or (B, D, T, H, W), got {tuple(x.shape)}")
        return self.transform(self.per_stream[name], x)

    def forward(self, video: Tensor | None, audio: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """video, audio (B, D, *S) or None -> same shapes."""
        return self._one("video", video), self._one("audio", audio)
