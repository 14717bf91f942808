"""Stackers: the autoencoder's latent planes <-> the one latent tensor a generator works on.

`stack6` (paper Eq. 9) puts the planes, in the canonical order of PLANE_NAMES, as the frames
of one latent (B, C, F, A, Bw): F = number of planes (6, or 3 for a single-stream
autoencoder), every plane zero-padded at its bottom/right to the largest plane height A and
width Bw. `loss_mask` marks the real values so no objective learns or scores the padding.

`stack_packed` keeps the frame layout without stack6's padding where the planes allow it: per
modality the hw plane is one frame and the tw and th planes share the next one, th below tw
(or beside it) when the two fit together in the frame stack6 would use. At the paper's sizes
(32x32, 16x32, 16x32) that is 4 full 32x32 frames, no padding, the loss mask all ones; where
they do not fit, tw and th get a frame each as in stack6.

`tokens` flattens the planes row-major into one sequence (B, C, N) with N = sum(a * b): no
padding at all. The data is left untouched (stack/unstack are exact inverses); what tells a
token generator which plane and which 2-D position a token has is the layout
(`segments`, `plane_ids`, `positions`), and the learned plane-type embedding lives in the
generator that consumes it (`token_dit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange

import proav_core
from proav_core import NoParams
from proav_core.errors import ConfigError
from proav_core.interfaces.autoencoder import PLANE_NAMES, Planes, PlaneShapes


@dataclass(frozen=True)
class Segment:
    """One plane inside a token sequence: tokens [offset, offset + a * b), row-major."""

    name: str
    type_id: int  # index in PLANE_NAMES, so video_hw is type 0 whatever planes exist
    a: int
    b: int
    offset: int

    @property
    def length(self) -> int:
        return self.a * self.b


def _ordered(plane_shapes: Mapping[str, tuple[int, int, int]], stacker: str) -> list[tuple[str, tuple[int, int, int]]]:
    """The planes in canonical order, after checking names and channel counts."""
    unknown = sorted(set(plane_shapes) - set(PLANE_NAMES))
    if unknown or not plane_shapes:
        raise ConfigError(
            f"stacker '{stacker}' got plane names {sorted(plane_shapes)}; planes must be named from "
            f"{', '.join(PLANE_NAMES)} (the autoencoder's plane_shapes())",
            path="model.stacker",
        )
    ordered = [(n, tuple(int(v) for v in plane_shapes[n])) for n in PLANE_NAMES if n in plane_shapes]
    channels = {shape[0] for _, shape in ordered}
    if len(channels) != 1:
        raise ConfigError(
            f"stacker '{stacker}' needs one channel count for all planes, got "
            f"{ {n: s[0] for n, s in ordered} }",
            path="model.stacker",
        )
    return ordered  # type: ignore[return-value]


def _check_planes(planes: Planes, shapes: Mapping[str, tuple[int, int, int]], stacker: str) -> int:
    """Checks keys and per-sample shapes; returns the batch size."""
    if set(planes) != set(shapes):
        raise ValueError(f"stacker '{stacker}' expects planes {sorted(shapes)}, got {sorted(planes)}")
    batch = {p.shape[0] for p in planes.values()}
    for name, shape in shapes.items():
        if tuple(planes[name].shape[1:]) != shape:
            raise ValueError(f"stacker '{stacker}': plane {name} is {tuple(planes[name].shape)}, expected (B, {shape})")
    if len(batch) != 1:
        raise ValueError(f"stacker '{stacker}': planes have different batch sizes {sorted(batch)}")
    return batch.pop()


class Stack6:
    """Planes -> (B, C, F, A, Bw) frames, zero-padded to the largest plane (paper Eq. 9)."""

    def __init__(self, plane_shapes: PlaneShapes):
        ordered = _ordered(plane_shapes, "stack6")
        self.shapes = dict(ordered)
        self.names = [n for n, _ in ordered]
        channels = ordered[0][1][0]
        self.height = max(s[1] for _, s in ordered)
        self.width = max(s[2] for _, s in ordered)
        self.latent_shape = (channels, len(ordered), self.height, self.width)

    def stack(self, planes: Planes) -> torch.Tensor:
        """planes {name: (B, C, a, b)} -> (B, C, F, A, Bw), padding zero."""
        _check_planes(planes, self.shapes, "stack6")
        frames = [
            F.pad(planes[n], (0, self.width - self.shapes[n][2], 0, self.height - self.shapes[n][1]))
            for n in self.names
        ]  # each (B, C, A, Bw)
        return torch.stack(frames, dim=2)  # (B, C, F, A, Bw)

    def unstack(self, latent: torch.Tensor) -> Planes:
        """(B, C, F, A, Bw) -> planes {name: (B, C, a, b)}; the padding is dropped."""
        if tuple(latent.shape[1:]) != self.latent_shape:
            raise ValueError(f"stack6 expects latents (B, {self.latent_shape}), got {tuple(latent.shape)}")
        return {
            n: latent[:, :, i, : self.shapes[n][1], : self.shapes[n][2]].contiguous()
            for i, n in enumerate(self.names)
        }

    def loss_mask(self) -> torch.Tensor:
        """(C, F, A, Bw) float: 1 on plane values, 0 on padding."""
        mask = torch.zeros(self.latent_shape, device="cpu")
        for i, n in enumerate(self.names):
            mask[:, i, : self.shapes[n][1], : self.shapes[n][2]] = 1.0
        return mask


@dataclass(frozen=True)
class Placement:
    """One plane inside a frame-stacked latent: frame index and top-left corner."""

    name: str
    frame: int
    row: int
    col: int


def _pack(ordered: list[tuple[str, tuple[int, int, int]]], height: int, width: int) -> list[Placement]:
    """Per modality: hw in a frame of its own, then tw and th in one frame when they fit in
    (height, width) together (th below tw, else beside it), else a frame each."""
    shapes = dict(ordered)
    placements: list[Placement] = []
    modalities = list(dict.fromkeys(n.split("_")[0] for n, _ in ordered))
    for modality in modalities:
        names = [n for n, _ in ordered if n.split("_")[0] == modality]
        if f"{modality}_hw" in names:
            placements.append(Placement(f"{modality}_hw", len({p.frame for p in placements}), 0, 0))
        rest = [n for n in names if not n.endswith("_hw")]
        frame = len({p.frame for p in placements})
        if len(rest) == 2:
            (_, a1, b1), (_, a2, b2) = shapes[rest[0]], shapes[rest[1]]
            if a1 + a2 <= height and max(b1, b2) <= width:
                placements += [Placement(rest[0], frame, 0, 0), Placement(rest[1], frame, a1, 0)]
                continue
            if max(a1, a2) <= height and b1 + b2 <= width:
                placements += [Placement(rest[0], frame, 0, 0), Placement(rest[1], frame, 0, b1)]
                continue
        placements += [Placement(n, frame + i, 0, 0) for i, n in enumerate(rest)]
    return placements


class PackedStack:
    """Planes -> (B, C, F, A, Bw) frames, each modality's tw and th planes sharing a frame where
    they fit (paper sizes: F = 4, no padding); any remaining padding is zero and masked."""

    def __init__(self, plane_shapes: PlaneShapes):
        ordered = _ordered(plane_shapes, "stack_packed")
        self.shapes = dict(ordered)
        self.height = max(s[1] for _, s in ordered)
        self.width = max(s[2] for _, s in ordered)
        self.placements = _pack(ordered, self.height, self.width)
        frames = 1 + max(p.frame for p in self.placements)
        self.latent_shape = (ordered[0][1][0], frames, self.height, self.width)

    def _slot(self, p: Placement) -> tuple[int, slice, slice]:
        _, a, b = self.shapes[p.name]
        return p.frame, slice(p.row, p.row + a), slice(p.col, p.col + b)

    def stack(self, planes: Planes) -> torch.Tensor:
        """planes {name: (B, C, a, b)} -> (B, C, F, A, Bw), padding (if any) zero."""
        batch = _check_planes(planes, self.shapes, "stack_packed")
        first = next(iter(planes.values()))
        latent = first.new_zeros(batch, *self.latent_shape)
        for p in self.placements:
            frame, rows, cols = self._slot(p)
            latent[:, :, frame, rows, cols] = planes[p.name]
        return latent

    def unstack(self, latent: torch.Tensor) -> Planes:
        """(B, C, F, A, Bw) -> planes {name: (B, C, a, b)}; padding (if any) dropped."""
        if tuple(latent.shape[1:]) != self.latent_shape:
            raise ValueError(f"stack_packed expects latents (B, {self.latent_shape}), got {tuple(latent.shape)}")
        out = {}
        for p in self.placements:
            frame, rows, cols = self._slot(p)
            out[p.name] = latent[:, :, frame, rows, cols].contiguous()
        return out

    def loss_mask(self) -> torch.Tensor:
        """(C, F, A, Bw) float: 1 on plane values, 0 on padding (all ones where the planes fit)."""
        mask = torch.zeros(self.latent_shape, device="cpu")
        for p in self.placements:
            frame, rows, cols = self._slot(p)
            mask[:, frame, rows, cols] = 1.0
        return mask


class TokenStacker:
    """Planes -> (B, C, N): every plane flattened row-major, concatenated in canonical order."""

    def __init__(self, plane_shapes: PlaneShapes):
        ordered = _ordered(plane_shapes, "tokens")
        self.shapes = dict(ordered)
        self.segments: list[Segment] = []
        offset = 0
        for name, (_, a, b) in ordered:
            self.segments.append(Segment(name, PLANE_NAMES.index(name), a, b, offset))
            offset += a * b
        self.latent_shape = (ordered[0][1][0], offset)

    def stack(self, planes: Planes) -> torch.Tensor:
        """planes {name: (B, C, a, b)} -> (B, C, N)."""
        _check_planes(planes, self.shapes, "tokens")
        return torch.cat([rearrange(planes[s.name], "b c h w -> b c (h w)") for s in self.segments], dim=2)

    def unstack(self, latent: torch.Tensor) -> Planes:
        """(B, C, N) -> planes {name: (B, C, a, b)}."""
        if tuple(latent.shape[1:]) != self.latent_shape:
            raise ValueError(f"tokens expects latents (B, {self.latent_shape}), got {tuple(latent.shape)}")
        return {
            s.name: rearrange(latent[:, :, s.offset : s.offset + s.length], "b c (h w) -> b c h w", h=s.a).contiguous()
            for s in self.segments
        }

    def loss_mask(self) -> torch.Tensor:
        """(C, N) ones: the token sequence has no padding."""
        return torch.ones(self.latent_shape, device="cpu")

    def plane_ids(self) -> torch.Tensor:
        """(N,) int64: each token's plane type (its index in PLANE_NAMES)."""
        return torch.cat([torch.full((s.length,), s.type_id, dtype=torch.long) for s in self.segments])

    def positions(self) -> torch.Tensor:
        """(N, 2) int64: each token's (row, column) inside its plane."""
        grids = [
            torch.stack(torch.meshgrid(torch.arange(s.a), torch.arange(s.b), indexing="ij"), -1).reshape(-1, 2)
            for s in self.segments
        ]
        return torch.cat(grids)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("stacker", "stack6", Stack6, NoParams,
                 "planes as the frames of one latent (B, C, F, A, W), zero-padded, with a loss mask (paper Eq. 9)")
    registry.add("stacker", "stack_packed", PackedStack, NoParams,
                 "frames as stack6 but each modality's tw and th planes share one frame where they fit "
                 "(paper sizes: 4 frames, no padding)")
    registry.add("stacker", "tokens", TokenStacker, NoParams,
                 "planes flattened into one token sequence (B, C, N) without padding; layout for token generators")
