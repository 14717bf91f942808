"""shape_sync, the video half: objects, their colour and shape class, and bounces in syncshapes clips.

- Palette pixels: HSV value >= min_value, saturation >= min_saturation and hue within
  hue_tolerance of a class hue c / C (syncshapes colours are value 1.0, saturation 0.55; the
  background and floor stay at value <= 0.5, also after H.264).
- Objects: 8-connected components of palette pixels within a frame (scipy.ndimage, the `eval`
  extra) of at least `min_area` pixels.
- Per frame with one clear object (the only one, or DOMINANCE times the area of the next; a
  frame of scattered blobs, such as noise, is skipped), that object votes for the class whose
  hue is nearest its circular mean hue, and for the shape kind whose SDF template
  (syncshapes_render.signed_distance, radius matched to the object's area, +-10 %, centre
  +-0.5 px) has the highest IoU with its soft coverage.
  Soft coverage = how far each pixel of the object (dilated by one pixel) lies from the local
  background (median of a ring around the object) towards the class colour, in [0, 1]: it
  undoes anti-aliasing and codec blur, so even 4-pixel-radius shapes are told apart.
- Shape fit: the clear object's best template IoU over the kinds (best_iou): a whole syncshapes
  shape fits its template at 0.84 or more (the demo's 128 clips: 0.84-0.99, median 0.93); a
  misshapen blob of two classes' colours or a fragment fits at 0.45-0.71, yet still votes for a kind.
- Steadiness: the clear object's area (its soft coverage summed, in pixels) and circular mean
  hue per frame (areas, hues). A syncshapes shape keeps its size and colour through the clip
  (the demo's 128 clips: area within 4.1 % of the clip's median, mean hue within 0.018 turns
  of the class hue); a generated one may swell, shrink or drift in colour from frame to frame
  while every frame still fits a template (shape_sync_judge's steady_shape_share).
- Bounces: frames where the object's (coverage-weighted) centroid is lowest, see find_bounces.
- Background saturation: the HSV saturation of the clip's mean background colour (every pixel
  below min_value and at least one pixel away from a palette pixel). syncshapes walls are dark
  colours of saturation 0.1-0.35 over a floor of 0.3 (a real clip measures 0.13-0.34); an
  autoencoder or generator that loses the colour draws grey walls, which the object figures do
  not see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from proav_core.errors import ProavError
from proav_plugins.data.syncshapes_render import SHAPES, shape_colour, signed_distance

UNIT_AREA = {"circle": math.pi, "square": 2.89, "triangle": 1.5716, "diamond": 2.88, "ring": 0.84 * math.pi,
             "cross": 2.31}  # pixels with sdf <= 0 at radius 1
_OFFSETS = torch.tensor([-0.5, 0.0, 0.5])  # template centre search, pixels
_SCALES = (0.9, 1.0, 1.1)  # template radius search, times the area-matched radius
DOMINANCE = 2.0  # a frame's largest object is followed when it has this many times the next one's pixels


def class_kinds(num_classes: int) -> list[str]:
    """Shape kind of every class c < C: SHAPES[c % 6]."""
    return [SHAPES[c % len(SHAPES)] for c in range(num_classes)]


def rgb_to_hsv(rgb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """rgb (3, ...) in [0, 1] -> hue in [0, 1), saturation, value, each (...)."""
    r, g, b = rgb.unbind(0)
    value, arg = rgb.max(0)
    delta = value - rgb.amin(0)
    safe = delta.clamp_min(1e-6)
    hue = torch.where(arg == 0, ((g - b) / safe) % 6, torch.where(arg == 1, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(delta > 0, hue / 6, torch.zeros_like(hue)) % 1.0
    return hue, delta / value.clamp_min(1e-6), value


def hue_distance(hue: Tensor, hues: Tensor) -> Tensor:
    """Circular distance (..., C) between hues (...) and class hues (C,), in turns (<= 0.5)."""
    d = (hue[..., None] - hues).abs() % 1.0
    return torch.minimum(d, 1 - d)


def palette_mask(rgb: Tensor, num_classes: int, min_value: float = 0.6, min_saturation: float = 0.25,
                 hue_tolerance: float = 0.06) -> tuple[Tensor, Tensor]:
    """rgb (3, T, H, W) in [0, 1] -> (palette mask (T, H, W) bool, hue (T, H, W))."""
    hue, sat, val = rgb_to_hsv(rgb)
    near = hue_distance(hue, torch.arange(num_classes) / num_classes).amin(-1) <= hue_tolerance
    return (val >= min_value) & (sat >= min_saturation) & near, hue


def background_saturation(rgb: Tensor, mask: Tensor, min_value: float = 0.6) -> float | None:
    """HSV saturation of the mean colour of rgb (3, T, H, W) in [0, 1] over the pixels of value
    < min_value that are not within one pixel of the palette mask (T, H, W); None if there are none."""
    near = F.max_pool2d(rearrange(mask.float(), "t h w -> t 1 h w"), 3, 1, 1)[:, 0] > 0  # (T, H, W)
    keep = ~near & (rgb.amax(0) < min_value)
    if not keep.any():
        return None
    mean = rgb[:, keep].mean(1)  # (3,)
    _, sat, _ = rgb_to_hsv(mean)
    return float(sat)


def find_objects(mask: Tensor, min_area: float) -> list[list[Tensor]]:
    """mask (T, H, W) bool -> per frame, the (H, W) bool masks of its 8-connected components of at
    least `min_area` pixels, largest first."""
    try:
        from scipy import ndimage
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ProavError("shape_sync needs scipy: pip install 'proav[eval]'") from err
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connected within a frame, never across frames
    labels, _ = ndimage.label(mask.numpy(), structure=structure)  # (T, H, W)
    areas = np.bincount(labels.ravel())
    objects: list[list[Tensor]] = [[] for _ in range(mask.shape[0])]
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None and areas[i] >= min_area:
            t = box[0].start
            objects[t].append(torch.from_numpy(labels[t] == i))
    return [sorted(objs, key=lambda m: -int(m.sum())) for objs in objects]


def mean_hue(hue: Tensor) -> float:
    """Circular mean of hues (N,) in turns."""
    angle = hue * 2 * math.pi
    return (math.atan2(float(angle.sin().mean()), float(angle.cos().mean())) / (2 * math.pi)) % 1.0


def soft_coverage(rgb: Tensor, masks: Tensor, colours: Tensor) -> Tensor:
    """Coverage (F, H, W) in [0, 1] of objects masks (F, H, W) bool of colours (F, 3) on frames rgb
    (F, 3, H, W) in [0, 1]: the projection of (pixel - background) onto (colour - background),
    on the mask dilated by one pixel; background = median of a ring 2-3 pixels around the mask."""
    m = rearrange(masks.float(), "f h w -> f 1 h w")
    near = F.max_pool2d(m, 3, 1, 1)[:, 0]  # (F, H, W)
    ring = (F.max_pool2d(m, 7, 1, 3)[:, 0] > 0) & (near == 0)
    out = []
    for frame, keep, around, colour in zip(rgb, near, ring, colours):
        pixels = frame[:, around] if around.any() else frame[:, keep == 0]  # (3, N)
        bg = pixels.median(1).values if pixels.shape[1] else torch.zeros(3)
        d = (colour - bg)[:, None, None]  # (3, 1, 1)
        cover = ((frame - bg[:, None, None]) * d).sum(0) / d.pow(2).sum().clamp_min(1e-3)  # (H, W)
        out.append(cover.clamp(0, 1) * keep)
    return torch.stack(out) if out else torch.zeros(masks.shape)


def weighted_centroid(cover: Tensor) -> tuple[Tensor, Tensor]:
    """(y, x) centres (F,) each of coverages (F, H, W), in syncshapes' pixel coordinates (pixel i spans [i, i + 1))."""
    _, h, w = cover.shape
    area = cover.sum((1, 2)).clamp_min(1e-6)
    cy = (cover * (torch.arange(h) + 0.5)[:, None]).sum((1, 2)) / area
    cx = (cover * (torch.arange(w) + 0.5)[None, :]).sum((1, 2)) / area
    return cy, cx


def shape_ious(cover: Tensor, kinds: Sequence[str]) -> Tensor:
    """Soft IoU (F, K) of object coverages (F, H, W) in [0, 1] with each kind's coverage template
    (radius matched to the object's area, best over _SCALES and centre _OFFSETS)."""
    f, h, w = cover.shape
    if f == 0:
        return torch.zeros(0, len(kinds))
    m = cover.float()
    area = m.sum((1, 2)).clamp_min(1e-6)  # (F,)
    cy, cx = weighted_centroid(m)
    grid = (f, len(_OFFSETS), len(_OFFSETS), len(_SCALES))  # (F, dy, dx, scale)
    y = rearrange((cy[:, None, None, None] + _OFFSETS[None, :, None, None]).expand(grid), "f a b s -> (f a b s)")
    x = rearrange((cx[:, None, None, None] + _OFFSETS[None, None, :, None]).expand(grid), "f a b s -> (f a b s)")
    scale = torch.tensor(_SCALES)[None, None, None, :].expand(grid)
    out = []
    for kind in kinds:
        r0 = (area / UNIT_AREA[kind]).sqrt()[:, None, None, None]  # (F, 1, 1, 1)
        radius = rearrange(r0 * scale, "f a b s -> (f a b s) 1 1")  # broadcasts in signed_distance
        template = (0.5 - signed_distance(kind, x, y, radius, h, w)).clamp(0, 1)  # (F * n, H, W)
        template = rearrange(template, "(f n) h w -> f n h w", f=f)
        inter = torch.minimum(template, m[:, None]).sum((-2, -1))
        out.append((inter / torch.maximum(template, m[:, None]).sum((-2, -1)).clamp_min(1e-6)).amax(1))  # (F,)
    return torch.stack(out, 1)


def find_bounces(y: Tensor, min_rise: float, reach: int = 2) -> list[int]:
    """Impact frames of a trajectory y (T,) (centroid row per frame, image rows grow downwards; NaN
    where no object): frames k with all of y[k - reach : k + reach + 1] seen (clipped to the clip, at
    least one frame on each side), y[k] >= y[k-1], y[k] > y[k+1], and y[k] at least `min_rise`
    below (greater than) the highest point of the `reach` frames on each side."""
    v = y.tolist()
    out = []
    for k in range(1, len(v) - 1):
        left, right = v[max(0, k - reach):k], v[k + 1:k + 1 + reach]
        if any(math.isnan(a) for a in (*left, v[k], *right)):
            continue
        if v[k] >= left[-1] and v[k] > right[0] and min(v[k] - min(left), v[k] - min(right)) >= min_rise:
            out.append(k)
    return out


@dataclass
class VideoAnalysis:
    """What the video shows: object counts (T,), centroid rows y (T,) of the clear object (NaN: none),
    and the votes of the frames' clear objects for each class's colour (C,) and each kind (K,)."""

    objects_per_frame: list[int]
    y: Tensor
    colour_votes: Tensor
    kinds: list[str]
    kind_votes: Tensor
    mean_iou: Tensor  # (K,) mean template IoU over voting frames (breaks vote ties)
    best_iou: Tensor  # (T,) the clear object's best template IoU over the kinds (NaN: none)
    areas: Tensor  # (T,) the clear object's soft-coverage area, pixels (NaN: none)
    hues: Tensor  # (T,) the clear object's circular mean hue, turns (NaN: none)
    background_saturation: float | None = None  # saturation of the mean background colour


def analyse_video(video: Tensor, num_classes: int, min_area: float, min_value: float = 0.6,
                  min_saturation: float = 0.25, hue_tolerance: float = 0.06) -> VideoAnalysis:
    """video (3, T, H, W) in [-1, 1] -> VideoAnalysis (objects of at least `min_area` pixels)."""
    _, t, h, w = video.shape
    rgb = (video.detach().float().cpu().clamp(-1, 1) + 1) / 2  # (3, T, H, W)
    mask, hue = palette_mask(rgb, num_classes, min_value, min_saturation, hue_tolerance)
    objects = find_objects(mask, min_area)
    seen = [k for k, objs in enumerate(objects)  # frames with one clear object: track and classify it
            if objs and (len(objs) == 1 or objs[0].sum() >= DOMINANCE * objs[1].sum())]
    largest = torch.stack([objects[k][0] for k in seen]) if seen else torch.zeros(0, h, w, dtype=torch.bool)
    hues = torch.arange(num_classes) / num_classes
    object_hues = torch.tensor([mean_hue(hue[k][m]) for k, m in zip(seen, largest)])  # (F,)
    colour = hue_distance(object_hues, hues).argmin(-1) if seen else torch.zeros(0, dtype=torch.long)  # (F,)
    palette = torch.stack([shape_colour(c / num_classes) for c in range(num_classes)])  # (C, 3)
    cover = soft_coverage(rearrange(rgb[:, seen], "c f h w -> f c h w"), largest, palette[colour])  # (F, H, W)
    y = torch.full((t,), math.nan)
    y[seen] = weighted_centroid(cover)[0]
    kinds = list(dict.fromkeys(class_kinds(num_classes)))
    ious = shape_ious(cover, kinds)  # (F, K)
    best, areas, frame_hues = (torch.full((t,), math.nan) for _ in range(3))
    best[seen] = ious.amax(1)
    areas[seen] = cover.sum((1, 2))
    frame_hues[seen] = object_hues
    ones = torch.ones(len(seen))
    return VideoAnalysis(
        objects_per_frame=[len(objs) for objs in objects], y=y,
        colour_votes=torch.zeros(num_classes).index_add_(0, colour, ones), kinds=kinds,
        kind_votes=torch.zeros(len(kinds)).index_add_(0, ious.argmax(1), ones),
        mean_iou=ious.mean(0) if seen else torch.zeros(len(kinds)), best_iou=best, areas=areas, hues=frame_hues,
        background_saturation=background_saturation(rgb, mask, min_value),
    )
