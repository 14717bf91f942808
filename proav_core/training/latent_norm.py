"""Per-channel normalisation of latent planes for the generator.

An autoencoder's planes differ in scale from channel to channel and plane to plane (a plane
that carries a static background is nearly constant over the data, one that carries motion
is not). The generator works best on unit-scale inputs, so `proav encode` measures, per
plane and channel, the mean and standard deviation over the training latents and stores
them in the latent cache's manifest; generator training sees

    n = (z - mean) / std            (normalised space)

and sampling undoes it before decoding. The reflected flow's box applies in normalised
space: the autoencoder's box [-b, b] maps to [(-b - mean) / std, (b - mean) / std] per
channel, and `bound` is the half-width of the smallest symmetric box that holds all of them,
so every normalised latent lies inside it and every point of it maps back into (a superset
of) the autoencoder's box. Channels whose std is below `MIN_STD` (unused channels) keep
std = MIN_STD, so the box stays finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from proav_core.interfaces.autoencoder import Planes

MIN_STD = 1e-2


@dataclass(frozen=True)
class LatentNormalizer:
    """mean[name], std[name]: C floats per plane (the channel axis of (B, C, a, b))."""

    mean: dict[str, list[float]]
    std: dict[str, list[float]]

    @classmethod
    def identity(cls, plane_shapes: Mapping[str, tuple[int, int, int]]) -> LatentNormalizer:
        """No change: mean 0, std 1 (generator checkpoints from before normalisation)."""
        return cls({k: [0.0] * s[0] for k, s in plane_shapes.items()}, {k: [1.0] * s[0] for k, s in plane_shapes.items()})

    @classmethod
    def fit(cls, batches: Iterable[Planes]) -> LatentNormalizer:
        """Mean and std per plane channel over every element of every batch {name: (N, C, a, b)}
        (float64 sums, one pass)."""
        sums: dict[str, Tensor] = {}
        squares: dict[str, Tensor] = {}
        counts: dict[str, int] = {}
        for planes in batches:
            for name, z in planes.items():
                z = z.detach().double().transpose(0, 1).flatten(1)  # (C, N*a*b)
                sums[name] = sums.get(name, 0) + z.sum(1)
                squares[name] = squares.get(name, 0) + z.pow(2).sum(1)
                counts[name] = counts.get(name, 0) + z.shape[1]
        if not counts:
            raise ValueError("LatentNormalizer.fit needs at least one batch of planes")
        mean = {k: sums[k] / counts[k] for k in counts}
        var = {k: (squares[k] / counts[k] - mean[k].pow(2)).clamp_min(0) for k in counts}
        return cls({k: [float(v) for v in mean[k]] for k in counts},
                   {k: [max(float(v), MIN_STD) for v in var[k].sqrt()] for k in counts})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatentNormalizer:
        return cls({k: [float(x) for x in v] for k, v in data["mean"].items()},
                   {k: [float(x) for x in v] for k, v in data["std"].items()})

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std}

    def same_as(self, other: LatentNormalizer, tol: float = 1e-4) -> bool:
        """Whether both describe the same latent cache: same planes and channels, statistics
        equal up to float noise (re-encoding the same clips with the same autoencoder)."""
        if self.mean.keys() != other.mean.keys():
            return False
        for name in self.mean:
            ours, theirs = self.mean[name] + self.std[name], other.mean[name] + other.std[name]
            if len(ours) != len(theirs) or not all(math.isclose(a, b, rel_tol=tol, abs_tol=tol)
                                                   for a, b in zip(ours, theirs)):
                return False
        return True

    def _stats(self, name: str, like: Tensor) -> tuple[Tensor, Tensor]:
        if name not in self.mean:
            raise KeyError(f"no normalisation statistics for plane {name!r}; known: {', '.join(self.mean)}")
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.mean[name], device=like.device, dtype=like.dtype).view(shape)
        std = torch.tensor(self.std[name], device=like.device, dtype=like.dtype).view(shape)
        return mean, std  # (1, C, 1, 1) each

    def normalize(self, planes: Planes) -> Planes:
        """{name: (B, C, a, b)} autoencoder space -> normalised space."""
        out = {}
        for name, z in planes.items():
            mean, std = self._stats(name, z)
            out[name] = (z - mean) / std
        return out

    def denormalize(self, planes: Planes) -> Planes:
        """{name: (B, C, a, b)} normalised space -> autoencoder space."""
        out = {}
        for name, n in planes.items():
            mean, std = self._stats(name, n)
            out[name] = n * std + mean
        return out

    def bound(self, latent_bound: float | None) -> float | None:
        """Half-width of the normalised box that holds the autoencoder's [-b, b] (None without a box)."""
        if latent_bound is None:
            return None
        b = float(latent_bound)
        return max((b + abs(m)) / s for name in self.mean for m, s in zip(self.mean[name], self.std[name]))
