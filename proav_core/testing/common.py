"""What the contract checks share: failing with the component's name, tiny sizes, gradient
and initialisation helpers."""

from __future__ import annotations

from typing import Any, NoReturn

import torch
from torch import nn

from proav_core.interfaces.data import ClipSpec

# A tiny clip with an odd frame count (on purpose: off-by-one in temporal code shows).
CLIP = ClipSpec(frames=5, fps=5.0, height=16, width=16)
# Latent planes (C, a, b): both modalities with C = 4, T = 8, H' = W' = 4 ...
TINY_PLANES = {f"{m}_{a}": s for m in ("video", "audio")
               for a, s in (("hw", (4, 4, 4)), ("tw", (4, 8, 4)), ("th", (4, 8, 4)))}
# ... and one stream only (a video autoencoder) with H' != W'.
VIDEO_ONLY_PLANES = {"video_hw": (2, 6, 4), "video_tw": (2, 8, 4), "video_th": (2, 8, 6)}


def make(kind: str, name: str, params: dict[str, Any], **context: Any) -> Any:
    """Build (kind, name) as an assembly does: `params` validated by the component's model,
    `context` offered (the factory takes what its signature names)."""
    from proav_core.build import build_component

    return build_component({"name": name, **params}, kind, **context)


def fail(kind: str, name: str, problem: str) -> NoReturn:
    raise AssertionError(f"{kind} '{name}': {problem}")


def expect(condition: Any, kind: str, name: str, problem: str) -> None:
    """AssertionError naming the component unless `condition` holds (works under python -O)."""
    if not condition:
        fail(kind, name, problem)


def random_planes(shapes: dict[str, tuple[int, int, int]], batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """{plane: (B, C, a, b) uniform in [-1, 1]}."""
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(batch, *s, generator=g) * 2 - 1 for k, s in shapes.items()}


def perturb_zero_params(module: nn.Module, std: float = 0.1, seed: int = 0) -> list[str]:
    """Give every all-zero parameter (zero-initialised output projections) small random values.

    Blocks that start as the identity have zero output projections, so at init no gradient
    reaches the projections feeding them (and their outputs ignore the other stream). The
    gradient-flow checks therefore perturb those zeros first. Returns the names perturbed.
    """
    g = torch.Generator().manual_seed(seed)
    names = []
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.numel() and not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * std)
                names.append(name)
    return names


def expect_gradients_everywhere(module: Any, loss: torch.Tensor, kind: str, name: str) -> None:
    """Backpropagate `loss`; every parameter of `module` must receive a non-zero gradient."""
    loss.backward()
    params = list(module.named_parameters()) if isinstance(module, nn.Module) else []
    dead = [n for n, p in params if p.grad is None or not p.grad.abs().sum() > 0]
    expect(not dead, kind, name, f"no gradient reaches {dead}")


def weighted_sum(*tensors: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """sum of each tensor times fixed random weights: a loss whose gradient reaches every output."""
    g = torch.Generator().manual_seed(seed)
    return sum((t * torch.randn(t.shape, generator=g)).sum() for t in tensors)
