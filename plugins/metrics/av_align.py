"""AV-Align metric (paper appendix 5.5): temporal sync of each generated clip, no weights.

Per clip: librosa onsets vs peaks of the mean Farneback flow magnitude, matched within
+-window frames (proav_core.metrics.av_align); the figure is the mean over clips that have
any peak (clips with none are counted in details). Real clips, when given, are scored the
same way and reported in details as a reference. Details also give the mean number of flow
peaks and onsets per clip: with a +-3-frame window on a short clip, peaks on nearly every
frame (flicker, noise) match by chance, so a high score with dense peaks means little.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from proav_core import ClipSpec, ComponentParams
from proav_core.interfaces import MetricResult, Role
from proav_core.metrics.av_align import av_align


class AVAlignParams(ComponentParams):
    window: int | None = Field(None, ge=0, description="match tolerance in frames; unset: 3 (symmetric) or 1 (iou)")
    mode: Literal["symmetric", "iou"] = Field(
        "symmetric", description="symmetric: mean of both match rates, inclusive (paper, JavisBench); iou: TempoTokens")
    flow_threshold: float = Field(0.1, ge=0, description="ignore flow-magnitude peaks below this (pixels/frame)")
    sample_rate: int = Field(22050, ge=1000, description="audio is resampled to this rate for onset detection")
    hop_length: int = Field(512, ge=1, description="onset-detection hop in samples")


class AVAlign:
    """AV-Align: audio onsets vs optical-flow peaks within +-3 frames, averaged both ways."""

    inputs = frozenset({"video", "waveform"})
    needs_real = False
    name = "av_align"

    def __init__(self, clip: ClipSpec, window: int | None = None, mode: str = "symmetric",
                 flow_threshold: float = 0.1, sample_rate: int = 22050, hop_length: int = 512):
        self.clip = clip
        self.window = window if window is not None else (3 if mode == "symmetric" else 1)
        self.mode, self.flow_threshold = mode, flow_threshold
        self.sample_rate, self.hop_length = sample_rate, hop_length
        self.reset()

    def reset(self) -> None:
        self.scores: dict[str, list[float]] = {"real": [], "fake": []}
        self.peaks: dict[str, list[tuple[int, int]]] = {"real": [], "fake": []}  # (flow peaks, onsets)

    def score(self, video, waveform) -> float:
        """One clip: video (3, T, H, W) in [-1, 1], waveform (S,) at the clip's rate."""
        return self._score(video, waveform)[0]

    def _score(self, video, waveform) -> tuple[float, int, int]:
        value, onsets, flow_peaks = av_align(
            video, waveform, self.clip.fps, self.clip.sample_rate, window=self.window, mode=self.mode,
            flow_threshold=self.flow_threshold, onset_rate=self.sample_rate, hop_length=self.hop_length,
        )
        return value, len(flow_peaks), len(onsets)

    def update(self, batch: dict[str, Any], role: Role = "fake") -> None:
        for video, waveform in zip(batch["video"], batch["waveform"]):
            value, flow_peaks, onsets = self._score(video, waveform)
            self.scores[role].append(value)
            self.peaks[role].append((flow_peaks, onsets))

    def _density(self, role: str) -> dict[str, float]:
        counts = np.asarray(self.peaks[role], dtype=np.float64).reshape(-1, 2)
        return {"flow_peaks_per_clip": float(counts[:, 0].mean()), "onsets_per_clip": float(counts[:, 1].mean())}

    def _summary(self, role: str) -> tuple[float | None, int]:
        s = np.asarray(self.scores[role], dtype=np.float64)
        valid = s[~np.isnan(s)]
        return (float(valid.mean()) if valid.size else None), int(np.isnan(s).sum())

    def compute(self) -> MetricResult:
        value, no_peaks = self._summary("fake")
        protocol = (f"AV-Align {self.mode}, +-{self.window} frames at {self.clip.fps:g} fps, librosa onsets at "
                    f"{self.sample_rate} Hz hop {self.hop_length}, Farneback flow peaks >= {self.flow_threshold}")
        details: dict[str, Any] = {"clips_without_peaks": no_peaks}
        if self.peaks["fake"]:
            details |= self._density("fake")
        if self.scores["real"]:
            details["real"], details["real_clips_without_peaks"] = self._summary("real")
            details |= {f"real_{k}": v for k, v in self._density("real").items()}
        reason = None
        if value is None:
            reason = ("no generated clips were given" if not self.scores["fake"]
                      else "no generated clip has an audio onset or a motion peak")
        return MetricResult(self.name, value, details=details, num_real=len(self.scores["real"]),
                            num_fake=len(self.scores["fake"]), protocol=protocol, reason=reason)
