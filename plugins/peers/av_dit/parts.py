"""The trainable parts AV-DiT inserts into its frozen, shared DiT backbone (av_dit.py), each
starting as the identity so a loaded backbone's function is unchanged when they are added:

- LowRank: a LoRA update B @ A of one Linear's weight (B zero at start).
- AudioAdapter: per backbone block, how the audio tokens are adapted; kind (ADAPTER_KINDS)
  `serial` (bottleneck MLP after the block, Houlsby et al.), `parallel` (bottleneck MLP
  beside the block, He et al.), `lora` (low-rank updates of the block's self-attention and
  MLP weights for the audio pass only). The bottleneck width or the LoRA rank is
  round(ratio * width), at least 1.
- TemporalAttention: self-attention along the time axis of the video planes that have one.
- FusionBlock: joint self-attention over the video and audio tokens through a backbone
  block's (shared, frozen) attention weights plus LoRA updates and a zero-initialised gate.

Zero-init factors (B of LoRA, an adapter's up projection, the temporal attention's output,
the fusion gate) keep the other factors' gradients at zero for the first step, as in LoRA.
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.func import functional_call

from proav_core.layers import Attention, Mlp
from proav_plugins.generation import dit_layers as L
from proav_plugins.generation.dit_blocks import DiTBlock

AdapterKind = Literal["serial", "parallel", "lora"]
ADAPTER_KINDS: tuple[str, ...] = AdapterKind.__args__
# the DiTBlock weights a `lora` audio adapter updates (self-attention and MLP; the
# cross-attention to the condition is shared by both modalities as it is)
LORA_TARGETS = ("attn.to_qkv", "attn.proj", "mlp.fc1", "mlp.fc2")


def bottleneck_width(dim: int, ratio: float) -> int:
    """The adapter's hidden width (or LoRA rank) for a transformer width and a ratio."""
    return max(1, round(ratio * dim))


class LowRank(nn.Module):
    """A low-rank weight update B @ A of an (out, in) weight: A (r, in) random, B (out, r) zero."""

    def __init__(self, out_features: int, in_features: int, rank: int):
        super().__init__()
        self.a = nn.Parameter(torch.randn(rank, in_features) / in_features**0.5)
        self.b = nn.Parameter(torch.zeros(out_features, rank))

    def delta(self) -> Tensor:
        """(out, in) weight update."""
        return self.b @ self.a  # (out, in)

    def flops(self) -> int:
        out_features, rank = self.b.shape
        return 2 * out_features * rank * self.a.shape[1]


def updated_weights(module: nn.Module, updates: nn.ModuleDict) -> dict[str, Tensor]:
    """{"<linear>.weight": W + B A} for every update (keys: the Linear's path, '.' as '__')."""
    weights = dict(module.named_parameters())
    return {f"{path}.weight": weights[f"{path}.weight"] + update.delta()
            for path, update in ((key.replace("__", "."), u) for key, u in updates.items())}


def lora_updates(module: nn.Module, targets: tuple[str, ...], ratio: float) -> nn.ModuleDict:
    """One LowRank per target Linear of `module`, rank round(ratio * in_features)."""
    linears = dict(module.named_modules())
    out = nn.ModuleDict()
    for target in targets:
        weight = linears[target].weight
        out[target.replace(".", "__")] = LowRank(weight.shape[0], weight.shape[1],
                                                bottleneck_width(min(weight.shape), ratio))
    return out


class Bottleneck(nn.Module):
    """norm -> down -> GELU -> up (zero): (B, N, D) -> (B, N, D), zero at initialisation."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = L.norm(dim)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(self.norm(x))  # (B, N, D)

    def zero_init(self) -> None:
        nn.init.zeros_(self.mlp.fc2.weight)
        nn.init.zeros_(self.mlp.fc2.bias)


class AudioAdapter(nn.Module):
    """Runs a shared backbone block on the audio tokens with this adapter's parameters."""

    def __init__(self, kind: str, block: DiTBlock, dim: int, ratio: float):
        super().__init__()
        self.kind = kind
        if kind == "lora":
            self.updates = lora_updates(block, LORA_TARGETS, ratio)
        else:
            self.bottleneck = Bottleneck(dim, bottleneck_width(dim, ratio))

    def zero_init(self) -> None:
        """The identity: LoRA's B factors or the bottleneck's up projection to zero."""
        if self.kind == "lora":
            for update in self.updates.values():
                nn.init.zeros_(update.b)
        else:
            self.bottleneck.zero_init()

    def forward(self, block: DiTBlock, x: Tensor, y: Tensor, mod: Tensor) -> Tensor:
        """block (shared), x (B, Na, D), y (B, L, D), mod (B, K, D) -> (B, Na, D)."""
        if self.kind == "lora":
            return functional_call(block, updated_weights(block, self.updates), (x, y, mod))  # (B, Na, D)
        if self.kind == "parallel":
            return block(x, y, mod) + self.bottleneck(x)  # (B, Na, D)
        out = block(x, y, mod)  # (B, Na, D)
        return out + self.bottleneck(out)  # (B, Na, D)

    def flops(self, tokens: int, dim: int) -> int:
        """Forward FLOPs beyond the block's own: the weight updates (once per call), or the MLP."""
        if self.kind == "lora":
            return sum(u.flops() for u in self.updates.values())
        return L.mlp_flops(tokens, dim, self.bottleneck.mlp.fc1.out_features)


class TemporalAttention(nn.Module):
    """Residual self-attention along the time axis of each video plane that has one.

    x (B, Nv, D) holds the video planes' patch tokens, plane after plane, row-major; `planes`
    lists (token offset, rows, cols, has_time) per plane. A tw/th plane's rows are its time
    axis: the tokens of one column attend to each other across time; hw tokens pass through.
    """

    def __init__(self, dim: int, heads: int, planes: list[tuple[int, int, int, bool]]):
        super().__init__()
        self.planes = planes
        self.norm = L.norm(dim)
        self.attn = Attention(dim, heads)

    def zero_init(self) -> None:
        nn.init.zeros_(self.attn.proj.weight)
        nn.init.zeros_(self.attn.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, Nv, D) -> (B, Nv, D)."""
        parts = []
        for offset, rows, cols, has_time in self.planes:
            plane = x[:, offset : offset + rows * cols]  # (B, r*c, D)
            if not has_time:
                parts.append(plane)
                continue
            seq = rearrange(plane, "b (r c) d -> (b c) r d", c=cols)  # (B*c, r, D)
            seq = seq + self.attn(self.norm(seq))  # (B*c, r, D)
            parts.append(rearrange(seq, "(b c) r d -> b (r c) d", c=cols))  # (B, r*c, D)
        return torch.cat(parts, dim=1)  # (B, Nv, D)

    def flops(self, dim: int) -> int:
        return sum(L.self_attention_flops(rows * cols, rows, dim)
                   for _, rows, cols, has_time in self.planes if has_time)


class FusionBlock(nn.Module):
    """Joint self-attention over both modalities' tokens through a shared backbone attention.

    x (B, N, D) = [video tokens; audio tokens] -> x + gate * attn'(norm(x)), attn' being the
    shared Attention with LoRA-updated qkv and output weights; gate (D,) starts at zero.
    """

    def __init__(self, shared: Attention, dim: int, ratio: float):
        super().__init__()
        self.norm = L.norm(dim)
        self.updates = lora_updates(shared, ("to_qkv", "proj"), ratio)
        self.gate = nn.Parameter(torch.zeros(dim))

    def zero_init(self) -> None:
        """The identity: gate and LoRA's B factors to zero."""
        nn.init.zeros_(self.gate)
        for update in self.updates.values():
            nn.init.zeros_(update.b)

    def forward(self, x: Tensor, shared: Attention) -> Tensor:
        """x (B, N, D), shared: the backbone attention whose weights are reused -> (B, N, D)."""
        mixed = functional_call(shared, updated_weights(shared, self.updates), (self.norm(x),))  # (B, N, D)
        return x + self.gate * mixed  # (B, N, D)

    def flops(self, tokens: int, dim: int) -> int:
        return sum(u.flops() for u in self.updates.values()) + L.self_attention_flops(tokens, tokens, dim)
