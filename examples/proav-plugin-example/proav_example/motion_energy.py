"""The metric `example_motion_energy` (kind `metric`, proav_core.interfaces.Metric).

It scores how much generated videos move: the mean absolute difference between consecutive
frames (video in [-1, 1], so the score lies in [0, 2]), counting only differences above a
threshold. Configs name it:

    [[metrics]]
    name = "example_motion_energy"
    threshold = 0.05
"""

from pydantic import Field

import proav_core
from proav_core.interfaces import MetricResult


class MotionEnergyParams(proav_core.ComponentParams):
    threshold: float = Field(0.0, ge=0, description="ignore per-pixel changes at or below this")


class MotionEnergy:
    """Mean absolute frame-to-frame change of generated videos."""

    inputs = frozenset({"video"})
    needs_real = False

    def __init__(self, threshold: float = 0.0):
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, batch, role="fake") -> None:
        video = batch["video"]  # (B, 3, T, H, W)
        change = (video[:, :, 1:] - video[:, :, :-1]).abs()
        change = change * (change > self.threshold)
        self.total += float(change.mean(dim=(1, 2, 3, 4)).sum())
        self.count += video.shape[0]

    def compute(self) -> MetricResult:
        value = self.total / self.count if self.count else None
        reason = None if self.count else "no generated videos were given"
        return MetricResult("example_motion_energy", value, num_fake=self.count, reason=reason)

