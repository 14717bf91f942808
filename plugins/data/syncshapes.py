"""`dataset` "syncshapes": procedural sounding videos whose audio-visual sync is known exactly.

A clip of class c shows `shapes_per_clip` shapes of c's kind and colour falling and bouncing
on the floor of a static textured background (syncshapes_motion.py, syncshapes_render.py);
the shapes of a clip hit the floor in unison (each with its own height, speed and place), and
every impact, on a video frame k, starts a percussive hit with c's timbre at time k / fps,
over c's own ambient noise (syncshapes_sound.py). (Shapes bouncing out of step would let one
shape's acceleration mask another's impact in the summed motion.) Items carry `events` (T,) bool, True on
impact frames. Motion is fastest at the impacts, so optical-flow peaks and audio onsets
coincide: AV-Align is high on real pairs and falls when audio and video are shuffled.

Deterministic: item i of a split depends only on (seed, split, i), never on the order of
access or on the global RNG. Labels cycle through the classes (index % num_classes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field, model_validator

from proav_core import ComponentParams, ConfigError, build
from proav_core.data.timing import clip_sample_bounds
from proav_core.interfaces.data import ClipSample, ClipSpec
from proav_plugins.data.syncshapes_motion import fly, sample_events
from proav_plugins.data.syncshapes_render import SHAPES, background, floor_top, render, shape_colour
from proav_plugins.data.syncshapes_sound import class_voice, soundtrack

_SPLIT_CODE = {"train": 0, "test": 1}


class SyncShapesParams(ComponentParams):
    seed: int = Field(0, ge=0, description="base seed; item i of a split depends only on (seed, split, i)")
    train_size: int = Field(512, ge=1, description="clips in the train split")
    test_size: int = Field(64, ge=1, description="clips in the test split")
    num_classes: int = Field(4, ge=1, description="classes; each has its own shape, colour, timbre, ambience")
    shapes_per_clip: int = Field(1, ge=1, description="bouncing shapes in each clip")
    min_events: int = Field(1, ge=0, description="fewest sound events (impacts) per clip, when they fit")
    max_events: int = Field(2, ge=0, description="most sound events per clip (few, so a shuffle misaligns them)")
    min_gap: int = Field(4, ge=3, description="frames between any two events (>= 3 keeps flow peaks apart)")
    shape_size: float = Field(0.12, gt=0, le=0.4, description="shape radius as a fraction of min(H, W)")
    max_step: float = Field(0.8, gt=0, le=2,
                            description="fastest motion in shape radii per frame (optical flow must follow it)")
    hit_level: float = Field(0.6, gt=0, le=1, description="peak amplitude of a hit")
    ambient_level: float = Field(0.02, ge=0, le=0.5, description="RMS amplitude of the ambient noise")

    @model_validator(mode="after")
    def _check(self) -> SyncShapesParams:
        if self.min_events > self.max_events:
            raise ValueError(f"min_events ({self.min_events}) exceeds max_events ({self.max_events})")
        return self


def class_names(num_classes: int) -> list[str]:
    """Readable, unique class names, e.g. 'circle-drum-0'."""
    return [f"{SHAPES[c % len(SHAPES)]}-{class_voice(c).timbre}-{c}" for c in range(num_classes)]


def class_index(name: str) -> int | None:
    """The syncshapes class of a class name such as 'circle-drum-0' (or a prompt 'a video of
    circle-drum-0'), whatever order a dataset lists its classes in; None for another name."""
    parts = name.strip().split()[-1].split("-") if name.strip() else []
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    index = int(parts[2])
    return index if parts[0] == SHAPES[index % len(SHAPES)] and parts[1] == class_voice(index).timbre else None


class SyncShapes(torch.utils.data.Dataset):
    """Map-style dataset of ClipSample dicts (video, audio, waveform, label, path, start, end, events)."""

    def __init__(
        self, clip: ClipSpec, split: str = "train", audio_repr: Any = None, params: SyncShapesParams | None = None
    ):
        self.params = params if params is not None else SyncShapesParams()
        if split not in ("train", "test", "all"):
            raise ConfigError(f"syncshapes: unknown split {split!r}; use train, test or all", path="split")
        self.clip, self.split = clip, split
        self.audio_repr = audio_repr if audio_repr is not None else build("audio_repr", "mel_frames", clip=clip)
        self.classes = class_names(self.params.num_classes)
        p = self.params
        self._parts = {"train": [("train", p.train_size)], "test": [("test", p.test_size)],
                       "all": [("train", p.train_size), ("test", p.test_size)]}[split]

    def __len__(self) -> int:
        return sum(n for _, n in self._parts)

    def _locate(self, index: int) -> tuple[str, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"syncshapes {self.split} has {len(self)} clips; index {index} is out of range")
        index %= len(self)
        for split, n in self._parts:
            if index < n:
                return split, index
            index -= n
        raise AssertionError("unreachable")

    def __getitem__(self, index: int) -> ClipSample:
        split, local = self._locate(index)
        video, waveform, events, label = self.generate(split, local)
        audio = self.audio_repr.encode(waveform[None])[0]  # (T, H, W)
        return ClipSample(
            video=video, audio=audio, waveform=waveform, label=label,
            path=f"syncshapes:seed={self.params.seed}/{split}/{local}", start=0.0, end=self.clip.duration,
            events=events,
        )

    def generate(self, split: str, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """Render clip `index` of `split`: video (3, T, H, W), waveform (S,), events (T,) bool, label."""
        p, clip = self.params, self.clip
        seq = np.random.SeedSequence([p.seed, _SPLIT_CODE[split], index])
        rng = np.random.default_rng(seq)
        gen = torch.Generator().manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] >> 1))
        label = index % p.num_classes
        t, h, w = clip.frames, clip.height, clip.width
        count = int(rng.integers(p.min_events, p.max_events + 1))
        impacts = sample_events(rng, t, count, p.min_gap)
        kind, colour = SHAPES[label % len(SHAPES)], shape_colour(label / p.num_classes)
        floor_y, sprites = floor_top(h), []
        for s in range(p.shapes_per_clip):
            radius = max(1.5, p.shape_size * min(h, w) * float(rng.uniform(0.8, 1.2)))
            flight = fly(rng, impacts, t, floor_y, radius, w, max_step=p.max_step * radius)
            sprites.append((kind, flight.x, flight.y, radius, colour))
        video = render(background(rng, gen, h, w), sprites, t)  # (3, T, H, W)
        bounds = clip_sample_bounds(clip)
        waveform = soundtrack(class_voice(label), [bounds[k] for k in impacts], clip.num_samples,
                              clip.sample_rate, p.hit_level, p.ambient_level, gen)  # (S,)
        events = torch.zeros(t, dtype=torch.bool)
        events[impacts] = True
        return video.float(), waveform.float(), events, label
