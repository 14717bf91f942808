"""Transformer building blocks shared by the first-party plugins: they live in
proav_core.layers (public API for plugin authors) and are re-exported here so older imports
keep working."""

from proav_core.layers import (  # noqa: F401
    Attention,
    Mlp,
    TimestepEmbedder,
    TransformerBlock,
    modulate,
    sincos_1d,
    sincos_2d,
)
