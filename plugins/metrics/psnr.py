"""PSNR for reconstruction: real clip i against generated (reconstructed) clip i.

Pairs are matched by arrival order: the k-th real clip pairs with the k-th generated clip
(`proav eval` feeds both folders sorted by file name, so name the files alike). Either side
may run ahead; unmatched clips wait in a queue. `signal` picks the tensor: video
(B, 3, T, H, W), audio (the (B, T, H, W) audio representation, the paper's PSNR-A) or
waveform (B, S); all in [-1, 1], so the data range is 2.
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Any, Literal

import torch
from pydantic import Field

from proav_core import ClipSpec, ComponentParams
from proav_core.errors import ProavWarning
from proav_core.interfaces import MetricResult, Role
from proav_core.metrics.psnr import psnr

Signal = Literal["video", "audio", "waveform"]


class PSNRParams(ComponentParams):
    signal: Signal = Field("video", description="video, audio (representation, PSNR-A) or waveform")


class PSNR:
    """PSNR (dB) of reconstructions against their originals, mean over pairs."""

    needs_real = True

    def __init__(self, signal: Signal = "video", clip: ClipSpec | None = None):
        self.signal, self.clip = signal, clip
        self.inputs = frozenset({signal})
        self.name = f"psnr_{signal}"
        self.reset()

    def reset(self) -> None:
        self.queues: dict[str, deque[torch.Tensor]] = {"real": deque(), "fake": deque()}
        self.values: list[float] = []
        self.counts = {"real": 0, "fake": 0}

    def update(self, batch: dict[str, Any], role: Role = "fake") -> None:
        x = batch[self.signal]
        self.counts[role] += x.shape[0]
        self.queues[role].extend(x.detach().cpu().unbind(0))
        real, fake = self.queues["real"], self.queues["fake"]
        while real and fake:
            r, f = real.popleft(), fake.popleft()
            if r.shape != f.shape:
                raise ValueError(f"psnr_{self.signal}: pair {len(self.values)} has shapes "
                                 f"{tuple(r.shape)} (real) and {tuple(f.shape)} (generated)")
            self.values.append(float(psnr(r[None], f[None])[0]))

    def compute(self) -> MetricResult:
        pairs = len(self.values)
        common = dict(num_real=self.counts["real"], num_fake=self.counts["fake"],
                      protocol=f"PSNR of {self.signal} in [-1, 1] (range 2), per pair, mean over pairs in order")
        if not pairs:
            return MetricResult(self.name, None, reason="needs paired real and generated clips", **common)
        finite = [v for v in self.values if v != float("inf")]
        details = {"pairs": pairs, "identical_pairs": pairs - len(finite),
                   "unpaired": self.counts["real"] + self.counts["fake"] - 2 * pairs}
        if details["unpaired"]:
            warnings.warn(f"{self.name}: {self.counts['real']} real against {self.counts['fake']} generated clips, "
                          f"{details['unpaired']} left without a pair; PSNR pairs the k-th real clip with the k-th "
                          "generated one (by sorted file name in `proav eval`), so give it reconstructions named "
                          "like their originals, as many as they are", ProavWarning, stacklevel=2)
        value = sum(finite) / len(finite) if finite else float("inf")
        return MetricResult(self.name, value, details=details, **common)
