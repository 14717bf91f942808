"""STDiT on the real tokens only: the padding of a frame-stacked latent takes no compute.

A padding stacker (stack6 at the paper's sizes: four 16x32 planes inside 32x32 frames) leaves
part of STDiT's (F', S) token grid empty. A token is real when its patch holds at least one
real latent value. `RealTokenLayout` lists the N real tokens (frame-major order) and groups
them for the two attentions:

- spatial: frames with the same set of real positions form a group; each frame attends over
  its real tokens only (one SDPA call per group on (B * frames, tokens, D));
- temporal: positions with the same set of present frames form a group; each position attends
  over the frames present there (one SDPA call per group on (B * positions, frames, D)).

Activations are held packed as (B, 1, N, D), one "frame" of all real tokens, so the per-token
parts of a block (norms, modulation, cross-attention, MLP) also run on real tokens only and
STDiTBlock's own code does them. The result equals running every frame's attention over its
real tokens and every position's over its present frames one by one (the tests hold it to such
a loop); the weights are STDiTBlock's, so a checkpoint loads in either padding mode.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from proav_plugins.generation.dit_blocks import STDiTBlock
from proav_plugins.generation.dit_layers import attention_flops

Groups = list[tuple[int, int]]  # (members, tokens per member) per group, in permutation order


def _group(real: Tensor, packed: Tensor) -> tuple[Groups, Tensor]:
    """Rows of `real` (R, M) bool with the same set of True columns form a group.

    packed (R, M) int64: each cell's index among the real tokens (-1 where not real).
    Returns the groups' (rows, columns) sizes and the permutation (N,) of the packed real tokens
    that lays each group out as (rows, columns) row-major, groups one after another.
    """
    members: dict[tuple[int, ...], list[int]] = {}
    for r in range(real.shape[0]):
        cols = tuple(torch.nonzero(real[r]).flatten().tolist())
        if cols:
            members.setdefault(cols, []).append(r)
    sizes, order = [], []
    for cols, rows in members.items():
        sizes.append((len(rows), len(cols)))
        order.append(packed[rows][:, list(cols)].reshape(-1))
    return sizes, torch.cat(order)


class RealTokenLayout(nn.Module):
    """Which tokens of the (F', S) grid are real and how the two attentions group them.

    real: (F', S) bool, True where the patch holds a real latent value. Buffers (int64):
    index (N,) the real tokens' flat grid positions f * S + s; spatial_perm / temporal_perm (N,)
    and their inverses, orderings of the packed tokens by group (see _group).
    """

    def __init__(self, real: Tensor):
        super().__init__()
        real = real.to("cpu", torch.bool)
        frames, positions = real.shape
        index = torch.nonzero(real.reshape(-1)).flatten()  # (N,)
        packed = torch.full((frames * positions,), -1, dtype=torch.long, device="cpu")
        packed[index] = torch.arange(index.numel(), device="cpu")
        packed = packed.reshape(frames, positions)  # (F', S)
        self.grid = (frames, positions)
        self.tokens = int(index.numel())
        self.spatial_sizes, spatial = _group(real, packed)
        self.temporal_sizes, temporal = _group(real.T, packed.T)
        for name, value in (("index", index), ("spatial_perm", spatial), ("spatial_inverse", torch.argsort(spatial)),
                            ("temporal_perm", temporal), ("temporal_inverse", torch.argsort(temporal))):
            self.register_buffer(name, value, persistent=False)

    def gather(self, grid: Tensor) -> Tensor:
        """(B, F', S, E) -> (B, 1, N, E): the real tokens, packed."""
        return grid.flatten(1, 2).index_select(1, self.index)[:, None]

    def scatter(self, packed: Tensor) -> Tensor:
        """(B, 1, N, E) -> (B, F', S, E): the real tokens back in the grid, zero elsewhere."""
        b, e = packed.shape[0], packed.shape[-1]
        grid = packed.new_zeros(b, self.grid[0] * self.grid[1], e).index_copy(1, self.index, packed[:, 0])
        return grid.unflatten(1, self.grid)

    def spatial(self, attn: nn.Module, x: Tensor) -> Tensor:
        """Each frame over its real tokens: x (B, 1, N, D) -> (B, 1, N, D)."""
        return _grouped(attn, x, self.spatial_perm, self.spatial_inverse, self.spatial_sizes)

    def temporal(self, attn: nn.Module, x: Tensor) -> Tensor:
        """Each position over its present frames: x (B, 1, N, D) -> (B, 1, N, D)."""
        return _grouped(attn, x, self.temporal_perm, self.temporal_inverse, self.temporal_sizes)


def _grouped(attn: nn.Module, x: Tensor, perm: Tensor, inverse: Tensor, sizes: Groups) -> Tensor:
    """`attn` within each group of the permuted packed tokens: (B, 1, N, D) -> (B, 1, N, D)."""
    b, d = x.shape[0], x.shape[-1]
    ordered = x[:, 0].index_select(1, perm)  # (B, N, D), groups one after another
    outs, start = [], 0
    for rows, length in sizes:
        chunk = ordered[:, start:start + rows * length].reshape(b * rows, length, d)  # (B*rows, length, D)
        outs.append(attn(chunk).reshape(b, rows * length, d))
        start += rows * length
    return torch.cat(outs, dim=1).index_select(1, inverse)[:, None]  # (B, 1, N, D)


class RealTokenSTDiTBlock(STDiTBlock):
    """STDiTBlock on packed real tokens x (B, 1, N, D): same parameters, spatial and temporal
    attention grouped by the model's RealTokenLayout (shared, not a submodule of the block)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, layout: RealTokenLayout):
        super().__init__(dim, heads, mlp_ratio)
        self._layout = (layout,)  # a tuple, so the layout is not registered once per block

    def spatial(self, x: Tensor) -> Tensor:
        return self._layout[0].spatial(self.attn_s, x)

    def temporal(self, x: Tensor) -> Tensor:
        return self._layout[0].temporal(self.attn_t, x)


def real_flops(layout: RealTokenLayout, dim: int) -> tuple[int, int]:
    """Per sample, attention QK^T + AV FLOPs (spatial, temporal) over the layout's groups."""
    spatial = sum(attention_flops(n, n, dim, rows) for rows, n in layout.spatial_sizes)
    temporal = sum(attention_flops(n, n, dim, rows) for rows, n in layout.temporal_sizes)
    return spatial, temporal
