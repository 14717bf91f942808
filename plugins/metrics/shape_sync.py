"""shape_sync metric: a ground-truth score for clips of the synthetic syncshapes domain, no weights.

Per clip (shape_sync_judge.py): objects in the class palette per frame, the class from the
object's colour and shape and from the audio's timbre, bounce frames from the object's
trajectory, audio onset frames, and bounce-onset matching within +-window frames.

The headline `value` is the sync F1: the mean over generated clips of the per-clip F1 of
bounce-onset matching (a clip with neither bounces nor onsets scores 1, counted in
details["clips_without_events"]). Details hold the rest: single_object_share,
whole_shape_share, steady_shape_share (a whole shape of the clip's own size and colour), class
accuracies against the intended classes (colour, shape, video, audio) when batches carry
"label" (syncshapes class indices) or "class_name" (names such as 'circle-drum-0', in any
dataset order), audio-video class agreement, pooled F1, precision, recall, mean offset
(onset - bounce, frames), bounces and onsets per clip. Real clips, when given, are scored
the same way and reported with a `real_` prefix as a reference. Only meaningful for
syncshapes-like clips.
"""

from __future__ import annotations

from typing import Any

from proav_core import ClipSpec
from proav_core.interfaces import MetricResult, Role
from proav_plugins.data.syncshapes import class_index
from proav_plugins.metrics.shape_sync_judge import (ClipJudgement, ShapeSyncParams, aggregate, judge_clip,
                                                      pattern_overlap)


class ShapeSync:
    """shape_sync: bounce-onset sync F1, object and class figures of syncshapes clips (no weights)."""

    inputs = frozenset({"video", "waveform"})
    needs_real = False
    name = "shape_sync"

    def __init__(self, clip: ClipSpec, settings: ShapeSyncParams):
        self.clip, self.settings = clip, settings
        self.reset()

    def reset(self) -> None:
        self.judgements: dict[str, list[ClipJudgement]] = {"real": [], "fake": []}

    def judge(self, video, waveform, label: int | None = None) -> ClipJudgement:
        """One clip: video (3, T, H, W) in [-1, 1], waveform (S,) at the clip's rate, optional class index."""
        return judge_clip(video, waveform, self.clip.sample_rate, label, self.settings)

    def update(self, batch: dict[str, Any], role: Role = "fake") -> None:
        """batch: video (B, 3, T, H, W), waveform (B, S), optional label (B,) class indices or
        class_name (B names)."""
        if batch.get("label") is not None:
            labels = [int(x) for x in batch["label"]]
        elif batch.get("class_name") is not None:
            labels = [class_index(name) for name in batch["class_name"]]
        else:
            labels = [None] * len(batch["video"])
        for video, waveform, label in zip(batch["video"], batch["waveform"], labels):
            self.judgements[role].append(self.judge(video, waveform, label))

    def compute(self) -> MetricResult:
        s = self.settings
        fake = aggregate(self.judgements["fake"], s.num_classes)
        value = fake.pop("sync_f1")
        details = {k: v for k, v in fake.items() if k != "clips"}
        if self.judgements["real"]:
            real = aggregate(self.judgements["real"], s.num_classes)
            details |= {f"real_{k}": v for k, v in real.items() if k != "clips"}
            details["pattern_overlap"] = pattern_overlap(fake.get("bounce_patterns", {}), real.get("bounce_patterns", {}))
        protocol = (f"shape_sync: value = mean per-clip F1 of bounces vs audio onsets matched one-to-one within "
                    f"+-{s.window} frames at {self.clip.fps:g} fps (F1 = 1 for a clip with neither); "
                    f"{s.num_classes} classes, shape_size {s.shape_size:g}, objects >= {s.min_area_fraction:g} "
                    f"of the expected area, whole shapes at template IoU >= {s.min_shape_iou:g}, steady ones within "
                    f"+-{s.size_tolerance:g} of the clip's median area and {s.colour_tolerance:g} turns of its hue, "
                    f"onsets {s.onset_threshold_db:g} dB of floor-lifted log-mel flux")
        reason = None if value is not None else "no generated clips were given"
        return MetricResult(self.name, value, details=details, num_real=len(self.judgements["real"]),
                            num_fake=len(self.judgements["fake"]), protocol=protocol, reason=reason)


def make_shape_sync(clip: ClipSpec = ClipSpec(), **params: Any) -> ShapeSync:
    """Registry factory: the parameters of ShapeSyncParams, context `clip`."""
    return ShapeSync(clip, ShapeSyncParams(**params))
