"""shape_sync: a ground-truth score for clips of the synthetic syncshapes domain, no learned weights.

A syncshapes clip of class c shows a shape of kind SHAPES[c % 6] in the light saturated colour
shape_colour(c / C) bouncing on a dark floor; every impact on video frame k starts a hit with
c's timbre at sample round(k * S / T). Per clip (`judge_clip`):

1. Objects (shape_sync_video): 8-connected components of class-palette pixels per frame of at
   least min_area_fraction * pi * (shape_size * min(H, W))^2 pixels. single_object_share:
   frames with exactly one object / T. whole_shape_share: frames with exactly one object that
   fits a shape template (best IoU over the kinds >= min_shape_iou) / T: a misshapen blob
   (generators that blend classes draw them in two classes' colours) or a broken shape is one
   object but no whole shape. steady_shape_share: frames whose whole shape also keeps the
   clip's size (soft-coverage area within size_tolerance of the median over the clip's clear
   objects) and colour (mean hue within colour_tolerance of the clip's colour class) / T: a shape
   that swells, shrinks or drifts in colour fits a template in every frame but is not one
   object moving.
2. Class: every frame's clear object (the only one, or twice the next one's area) votes for
   the nearest class hue (colour_class) and for the best-fitting shape template (shape_kind;
   shape_class = the first class of that kind); video_class maximises colour + shape votes
   (ties: colour votes, then the lower index).
   audio_class: the nearest reference timbre profile (shape_sync_audio).
3. Events: bounces = frames where the clear object's centroid is lowest (local maximum of
   its row, rising at least min_prominence shape radii within 2 frames on each side);
   onsets = log-mel flux peaks, on the frame whose start is nearest.
4. Sync: bounces and onsets matched one-to-one within +-window frames (most matches, then the
   least total |offset|). precision = matches / onsets, recall = matches / bounces,
   F1 = 2 matches / (bounces + onsets); an empty list counts as 1 for its own ratio, so a clip
   with neither has F1 = 1 (counted in `clips_without_events`), one with only one kind F1 = 0.
   Offsets are onset frame - bounce frame.
5. Background: the saturation of the clip's mean background colour (shape_sync_video), to set
   beside real clips' (grey walls where the data has coloured ones).
6. Timing mix (over clips): the share of clips per bounce pattern (the frames a clip bounces on,
   "2,6"); `pattern_overlap` of two sets is sum_p min(share_a(p), share_b(p)), 1 when samples
   bounce on the same frames in the same proportions as the real clips. Sync F1 alone cannot
   see samples that gather on the data's commonest pattern.

`aggregate` / `score_clips` summarise many clips; the headline is `sync_f1`, the mean per-clip F1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from proav_core import ComponentParams

from proav_plugins.metrics.shape_sync_audio import classify_audio, detect_onsets
from proav_plugins.metrics.shape_sync_video import (VideoAnalysis, analyse_video, class_kinds, find_bounces,
                                                      hue_distance)


class ShapeSyncParams(ComponentParams):
    """Thresholds of the analysis (defaults work for 32x32 and 64x64 clips at 8 fps, 16 kHz)."""

    num_classes: int = Field(4, ge=1, description="syncshapes classes (each has its own shape, colour, timbre)")
    shape_size: float = Field(0.12, gt=0, le=0.5,
                              description="expected shape radius as a fraction of min(H, W) (syncshapes' shape_size)")
    min_area_fraction: float = Field(
        0.2, gt=0, le=2, description="a component counts as an object from this fraction of pi * radius^2 pixels "
                                     "(a real triangle of the smallest size covers ~0.3)")
    window: int = Field(1, ge=0, description="bounce-onset match tolerance in frames")
    min_value: float = Field(0.6, gt=0, le=1, description="HSV value of a palette pixel (background <= 0.5)")
    min_saturation: float = Field(0.25, ge=0, le=1, description="HSV saturation of a palette pixel (shapes: 0.55)")
    hue_tolerance: float = Field(0.06, gt=0, le=0.5, description="largest hue distance to a class hue, in turns")
    min_shape_iou: float = Field(
        0.75, gt=0, le=1, description="a lone object is a whole shape from this template IoU (real clips: >= 0.84; "
                                      "two-coloured blobs and fragments: 0.45-0.7)")
    size_tolerance: float = Field(
        0.15, gt=0, description="a whole shape is steady while its area stays within this fraction of the clip's "
                                "median (real clips: within 0.05; a swelling visible by eye: 0.15 and more)")
    colour_tolerance: float = Field(
        0.03, gt=0, le=0.5, description="... and its mean hue within this many turns of its colour class's hue "
                                        "(real clips: within 0.02)")
    min_prominence: float = Field(0.02, ge=0, description="a bounce rises at least this many shape radii on each side")
    onset_threshold_db: float = Field(
        3.0, gt=0, description="an onset's strength (floor-lifted log-mel flux) peaks this many dB above its median")


@dataclass
class ClipJudgement:
    """What shape_sync sees in one clip (classes are indices < num_classes; None: no object seen)."""

    objects_per_frame: list[int]
    single_object_share: float
    whole_shape_share: float  # frames with one object that fits a shape template (min_shape_iou) / T
    steady_shape_share: float  # frames with a whole shape of the clip's size and colour / T
    colour_class: int | None
    shape_kind: str | None
    shape_class: int | None  # first class of that kind
    video_class: int | None
    audio_class: int | None  # None: silent waveform
    label: int | None
    bounces: list[int]
    onsets: list[int]
    matches: list[tuple[int, int]]  # (bounce frame, onset frame)
    precision: float
    recall: float
    f1: float
    mean_offset: float | None  # onset - bounce, frames, over matches
    background_saturation: float | None = None  # HSV saturation of the mean background colour

    def to_dict(self) -> dict:
        return asdict(self)


def match_events(bounces: Sequence[int], onsets: Sequence[int], window: int) -> list[tuple[int, int]]:
    """One-to-one (bounce, onset) pairs with |onset - bounce| <= window: the most pairs, then the
    least total |offset| (exact DP over the sorted lists; an optimal matching never crosses)."""
    b, o = sorted(bounces), sorted(onsets)
    # best[i][j]: (pairs, -total offset) using b[i:], o[j:]
    best = [[(0, 0)] * (len(o) + 1) for _ in range(len(b) + 1)]
    for i in range(len(b) - 1, -1, -1):
        for j in range(len(o) - 1, -1, -1):
            cands = [best[i + 1][j], best[i][j + 1]]
            if abs(o[j] - b[i]) <= window:
                pairs, cost = best[i + 1][j + 1]
                cands.append((pairs + 1, cost - abs(o[j] - b[i])))
            best[i][j] = max(cands)
    pairs, i, j = [], 0, 0
    while i < len(b) and j < len(o):
        nxt = best[i + 1][j + 1]
        if abs(o[j] - b[i]) <= window and best[i][j] == (nxt[0] + 1, nxt[1] - abs(o[j] - b[i])):
            pairs.append((b[i], o[j]))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def sync_scores(bounces: Sequence[int], onsets: Sequence[int], window: int = 1) -> dict:
    """precision, recall, f1, matches, mean_offset of one clip (rules in the module docstring)."""
    matches = match_events(bounces, onsets, window)
    m, nb, no = len(matches), len(bounces), len(onsets)
    return {"precision": m / no if no else 1.0, "recall": m / nb if nb else 1.0,
            "f1": 2 * m / (nb + no) if nb + no else 1.0, "matches": matches,
            "mean_offset": float(np.mean([on - bo for bo, on in matches])) if matches else None}


def steady_frames(seen: VideoAnalysis, colour: int | None, settings: ShapeSyncParams) -> set[int]:
    """Frames whose clear object has the clip's size (area within settings.size_tolerance of the
    median over the clip's clear objects) and its colour (mean hue within settings.colour_tolerance
    of colour class `colour`'s hue); empty when no object was seen."""
    if colour is None:
        return set()
    known = ~seen.areas.isnan()  # (T,) frames with a clear object
    typical = seen.areas[known].median()
    size_ok = (seen.areas / typical - 1).abs() <= settings.size_tolerance  # NaN: False
    offset = hue_distance(seen.hues, torch.tensor([colour / settings.num_classes]))[:, 0]  # (T,) turns, NaN: none
    colour_ok = offset <= settings.colour_tolerance
    return {int(k) for k in torch.nonzero(known & size_ok & colour_ok).flatten()}


def judge_clip(video: Tensor, waveform: Tensor, sample_rate: int, label: int | None = None,
               settings: ShapeSyncParams | None = None) -> ClipJudgement:
    """Judge one clip: video (3, T, H, W) in [-1, 1], waveform (S,) at `sample_rate` spanning the
    same T frames, optional class label."""
    s = settings or ShapeSyncParams()
    _, t, h, w = video.shape
    radius = s.shape_size * min(h, w)
    seen = analyse_video(video, s.num_classes, s.min_area_fraction * math.pi * radius**2, s.min_value,
                         s.min_saturation, s.hue_tolerance)
    colour = shape_kind = shape_class = video_class = None
    if seen.colour_votes.sum() > 0:
        colour = int(seen.colour_votes.argmax())
        shape_kind = seen.kinds[int((seen.kind_votes + 1e-3 * seen.mean_iou).argmax())]
        shape_class = class_kinds(s.num_classes).index(shape_kind)
        shape_votes = [float(seen.kind_votes[seen.kinds.index(kind)]) for kind in class_kinds(s.num_classes)]
        votes = [(float(seen.colour_votes[c]) + shape_votes[c], float(seen.colour_votes[c]), -c)
                 for c in range(s.num_classes)]
        video_class = -max(votes)[2]
    bounces = find_bounces(seen.y, s.min_prominence * radius)
    onsets = detect_onsets(waveform, sample_rate, t, s.onset_threshold_db)
    audio_class = None
    if waveform.numel() and float(waveform.abs().max()) > 1e-4:
        audio_class = classify_audio(waveform, sample_rate, t, s.num_classes)[0]
    counts = seen.objects_per_frame
    whole = [c == 1 and float(iou) >= s.min_shape_iou for c, iou in zip(counts, seen.best_iou)]  # NaN: False
    kept = steady_frames(seen, colour, s)
    steady = [w and k in kept for k, w in enumerate(whole)]  # whole shapes of the clip's size and colour
    return ClipJudgement(
        objects_per_frame=counts, single_object_share=sum(c == 1 for c in counts) / t,
        whole_shape_share=sum(whole) / t, steady_shape_share=sum(steady) / t, colour_class=colour,
        shape_kind=shape_kind, shape_class=shape_class, video_class=video_class, audio_class=audio_class,
        label=None if label is None else int(label), bounces=bounces, onsets=onsets,
        background_saturation=seen.background_saturation,
        **sync_scores(bounces, onsets, s.window),
    )


def bounce_patterns(judgements: Sequence[ClipJudgement]) -> dict[str, float]:
    """Share of clips per bounce pattern, commonest first: {"2,6": 0.77, "4": 0.08, ...};
    "none" for clips without a bounce."""
    counts: dict[str, int] = {}
    for j in judgements:
        key = ",".join(map(str, j.bounces)) or "none"
        counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    return {k: n / total for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def pattern_overlap(a: dict[str, float], b: dict[str, float]) -> float | None:
    """sum over patterns of min(a, b) for two bounce_patterns: 1 for the same timing mix, 0 when no
    pattern is shared (1 - the total variation distance); None if either set is empty."""
    if not a or not b:
        return None
    return float(sum(min(share, b.get(k, 0.0)) for k, share in a.items()))


def _mean(values: Sequence[float]) -> float | None:
    """Mean of numbers or flags (a share of True), None for an empty list."""
    return float(np.mean(values)) if len(values) else None


def aggregate(judgements: Sequence[ClipJudgement], num_classes: int = 4) -> dict:
    """Summary of many clips (None where there is nothing to average):

    single_object_share, whole_shape_share (one object fitting a shape template), steady_shape_share
    (a whole shape of the clip's size and colour), empty_frame_share
    (over all frames), objects_per_frame; with labels
    (`labelled_clips` of them): colour_, shape_ (kind), video_, audio_accuracy; always
    av_class_agreement (video_class == audio_class, both seen); sync_f1 (mean per-clip F1, the headline),
    sync_precision, sync_recall (means), sync_f1_pooled (2 all matches / (all bounces + all
    onsets); 1 when there are none), mean_offset (onset - bounce over all matches, frames),
    matches_, bounces_, onsets_per_clip, clips_without_events (F1 = 1 by definition),
    background_saturation (mean over the clips that have a background); bounce_patterns (share of
    clips per bounce pattern) and modal_pattern_share (the commonest one's share)."""
    js = list(judgements)
    if not js:
        return {"clips": 0, "sync_f1": None}
    kinds = class_kinds(num_classes)
    frames = [c for j in js for c in j.objects_per_frame]
    labelled = [j for j in js if j.label is not None]
    matched = [on - bo for j in js for bo, on in j.matches]
    nb, no = sum(len(j.bounces) for j in js), sum(len(j.onsets) for j in js)
    patterns = bounce_patterns(js)
    return {
        "clips": len(js), "single_object_share": _mean([c == 1 for c in frames]),
        "whole_shape_share": float(np.mean([j.whole_shape_share for j in js])),
        "steady_shape_share": float(np.mean([j.steady_shape_share for j in js])),
        "objects_per_frame": float(np.mean(frames)), "empty_frame_share": _mean([c == 0 for c in frames]),
        "labelled_clips": len(labelled),
        "colour_accuracy": _mean([j.colour_class == j.label for j in labelled]),
        "shape_accuracy": _mean([0 <= j.label < num_classes and j.shape_kind == kinds[j.label] for j in labelled]),
        "video_accuracy": _mean([j.video_class == j.label for j in labelled]),
        "audio_accuracy": _mean([j.audio_class == j.label for j in labelled]),
        "av_class_agreement": _mean([j.video_class is not None and j.video_class == j.audio_class for j in js]),
        "sync_f1": float(np.mean([j.f1 for j in js])),
        "sync_precision": float(np.mean([j.precision for j in js])),
        "sync_recall": float(np.mean([j.recall for j in js])),
        "sync_f1_pooled": 2 * len(matched) / (nb + no) if nb + no else 1.0,
        "mean_offset": float(np.mean(matched)) if matched else None,
        "matches_per_clip": len(matched) / len(js),
        "bounces_per_clip": nb / len(js), "onsets_per_clip": no / len(js),
        "clips_without_events": sum(not j.bounces and not j.onsets for j in js),
        "background_saturation": _mean([j.background_saturation for j in js if j.background_saturation is not None]),
        "bounce_patterns": patterns, "modal_pattern_share": max(patterns.values()),
    }


def score_clips(videos: Sequence[Tensor] | Tensor, waveforms: Sequence[Tensor] | Tensor, sample_rate: int,
                labels: Sequence[int] | Tensor | None = None, settings: ShapeSyncParams | None = None) -> dict:
    """Judge clips (videos (B, 3, T, H, W) or a list of (3, T, H, W); waveforms (B, S) or a list of
    (S,); labels (B,) or None) and return `aggregate` of them. For per-clip results as well,
    call judge_clip on each clip and aggregate the list."""
    s = settings or ShapeSyncParams()
    labels = [None] * len(videos) if labels is None else [int(x) for x in labels]
    return aggregate([judge_clip(v, a, sample_rate, lab, s) for v, a, lab in zip(videos, waveforms, labels)],
                     s.num_classes)
