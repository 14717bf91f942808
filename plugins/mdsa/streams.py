"""The `identity` attention block. What every MDSA attention block shares (the stream pair,
token layout helpers, the per-stream base class) lives in proav_core.attention_streams,
public API for plugin authors, and is re-exported here so older imports keep working.
"""

from __future__ import annotations

from torch import Tensor, nn

from proav_core.attention_streams import (  # noqa: F401  (re-exported)
    MODALITIES,
    PerStreamBlock,
    check_dim,
    check_streams,
    from_tokens,
    to_tokens,
)


class IdentityBlock(nn.Module):
    """`identity`: returns both streams unchanged (the ablation of any attention role)."""

    def __init__(self) -> None:
        super().__init__()

    def forward(self, video: Tensor | None, audio: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        return video, audio
