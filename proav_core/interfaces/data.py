"""Interfaces of the data kinds: `dataset` and `audio_repr`.

Conventions shared by every kind:
- video is float32 in [-1, 1], laid out (B, 3, T, H, W);
- the audio representation is float32 in [-1, 1], laid out (B, T, H, W): one H x W mel image
  per video frame (paper Fig. 1), so audio and video share the T x H x W grid;
- a waveform is float32 mono in [-1, 1], (B, S) with S = clip.num_samples.
"""

from __future__ import annotations

from typing import Literal, Protocol, TypedDict, runtime_checkable

from pydantic import ConfigDict, Field
from torch import Tensor

from proav_core.validation import NumbersRefuseBooleans

Split = Literal["train", "test", "all"]


class ClipSpec(NumbersRefuseBooleans):
    """The shape of one clip, shared by the data, the models and the metrics (config `[clip]`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames: int = Field(16, ge=1, description="T, video frames per clip (paper: 16)")
    fps: float = Field(10.0, gt=0, description="frames per second the clip is sampled at")
    height: int = Field(256, ge=8, description="H, frame height in pixels (paper: 256)")
    width: int = Field(256, ge=8, description="W, frame width in pixels (paper: 256)")
    sample_rate: int = Field(16000, ge=1000, description="audio sample rate in Hz")

    @property
    def duration(self) -> float:
        """Seconds covered by one clip: frames / fps."""
        return self.frames / self.fps

    @property
    def num_samples(self) -> int:
        """S, waveform samples per clip: round(duration * sample_rate)."""
        return round(self.duration * self.sample_rate)

    @property
    def samples_per_frame(self) -> float:
        """Waveform samples spanned by one video frame (may be fractional)."""
        return self.sample_rate / self.fps


class ClipSample(TypedDict, total=False):
    """One item of a `dataset`; torch's default collate batches it along a new first axis.

    video:    (3, T, H, W) float32 in [-1, 1]
    audio:    (T, H, W) float32 in [-1, 1], the audio representation of `waveform`
    waveform: (S,) float32 mono in [-1, 1], exactly the frames' time span
    label:    int class index, -1 when the dataset has no classes
    path:     source file (or a synthetic id such as "syncshapes:seed=0/12")
    start:    clip start in seconds within the source
    end:      clip end in seconds (start + T / fps)
    events:   (T,) bool, ground-truth sound events per frame, when the dataset knows them
    """

    video: Tensor
    audio: Tensor
    waveform: Tensor
    label: int
    path: str
    start: float
    end: float
    events: Tensor


@runtime_checkable
class Dataset(Protocol):
    """kind `dataset`: a map-style dataset of sounding-video clips.

    Factory context (offered to the factory when its signature names it):
    clip: ClipSpec, audio_repr: AudioRepresentation, split: "train" | "test" | "all".
    """

    classes: list[str]  # label index -> class name; [] when unlabelled

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> ClipSample: ...


@runtime_checkable
class AudioRepresentation(Protocol):
    """kind `audio_repr`: waveform <-> video-like audio tensor aligned with the video frames.

    Factory context: clip: ClipSpec.
    """

    def encode(self, waveform: Tensor) -> Tensor:
        """(B, S) float32 waveform -> (B, T, H, W) float32 in [-1, 1]."""
        ...

    def decode(self, frames: Tensor) -> Tensor:
        """(B, T, H, W) float32 -> (B, S) float32 waveform (no neural vocoder)."""
        ...
