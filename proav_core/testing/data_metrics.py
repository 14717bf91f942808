"""Contracts of the data kinds (dataset, audio_repr) and of metric and extractor
(proav_core.interfaces.data, proav_core.interfaces.metrics)."""

from __future__ import annotations

import json
import re
from typing import Any

import torch

from proav_core.interfaces import AudioRepresentation, Dataset, FeatureExtractor, Metric, MetricResult
from proav_core.interfaces.data import ClipSpec
from proav_core.testing.common import expect, make

# One second: 8 frames of 16 x 16 at 8 fps, 16 kHz.
DATA_CLIP = ClipSpec(frames=8, fps=8.0, height=16, width=16, sample_rate=16000)
FINGERPRINT = re.compile(r"^[\w-]+/sha256:([0-9a-f]{64}|none)/prep:.+$")


def check_audio_repr(name: str, **params: Any) -> None:
    """encode: (B, S) waveform -> (B, T, H, W) float32 in [-1, 1]; decode back to (B, S), finite."""
    clip = DATA_CLIP
    rep = make("audio_repr", name, params, clip=clip)
    expect(isinstance(rep, AudioRepresentation), "audio_repr", name,
           "does not satisfy the AudioRepresentation protocol")
    wave = torch.randn(2, clip.num_samples, generator=torch.Generator().manual_seed(0)) * 0.1
    frames = rep.encode(wave)
    expect(frames.shape == (2, clip.frames, clip.height, clip.width), "audio_repr", name,
           f"encode gave {tuple(frames.shape)}")
    expect(frames.dtype == torch.float32 and frames.min() >= -1 and frames.max() <= 1, "audio_repr", name,
           "encode must give float32 in [-1, 1]")
    back = rep.decode(frames)
    expect(back.shape == (2, clip.num_samples) and torch.isfinite(back).all(), "audio_repr", name,
           f"decode gave {tuple(back.shape)}, expected {(2, clip.num_samples)}")


def check_dataset(name: str, clip: ClipSpec = DATA_CLIP, **params: Any) -> None:
    """Every split builds (offered clip, registry.toml's default audio_repr, split) and is
    non-empty; items hold video (3, T, H, W), audio (T, H, W),
    waveform (S,) in [-1, 1] float32, a label below len(classes), path, start and end; two
    items collate into a batch. `clip` must suit the data `params` point at."""
    from torch.utils.data import default_collate

    from proav_core.plugin_manager import get_registry

    # the context an assembly offers: the clip, the default audio representation, the split
    audio_repr = make("audio_repr", get_registry().default_name("audio_repr"), {}, clip=clip)
    ds = make("dataset", name, params, clip=clip, audio_repr=audio_repr, split="train")
    expect(isinstance(ds, Dataset) and isinstance(ds.classes, list), "dataset", name,
           "does not satisfy the Dataset protocol (classes: list[str], __len__, __getitem__)")
    expect(len(ds) > 0, "dataset", name, "the train split is empty")
    t, h, w, s = clip.frames, clip.height, clip.width, clip.num_samples
    for item in (ds[0], ds[len(ds) - 1]):
        expect(item["video"].shape == (3, t, h, w) and item["audio"].shape == (t, h, w), "dataset", name,
               f"video {tuple(item['video'].shape)} / audio {tuple(item['audio'].shape)} for clip {t}x{h}x{w}")
        expect(item["waveform"].shape == (s,), "dataset", name, f"waveform {tuple(item['waveform'].shape)}")
        for key in ("video", "audio", "waveform"):
            x = item[key]
            expect(x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1, "dataset", name,
                   f"{key} must be float32 in [-1, 1]")
        expect(-1 <= item["label"] < max(len(ds.classes), 1), "dataset", name, f"label {item['label']}")
        expect(abs(item["end"] - item["start"] - clip.duration) < 1e-6, "dataset", name, "end != start + T / fps")
        expect(isinstance(item["path"], str) and item["path"], "dataset", name, "path must name the source")
    batch = default_collate([ds[0], ds[len(ds) - 1]])
    expect(batch["video"].shape == (2, 3, t, h, w) and batch["label"].shape == (2,), "dataset", name,
           "two items do not collate into a batch")
    for split in ("test", "all"):
        expect(len(make("dataset", name, params, clip=clip, audio_repr=audio_repr, split=split)) > 0, "dataset", name,
               f"the {split} split is empty")


def check_metric(name: str, **params: Any) -> None:
    """Builds; inputs within video/audio/waveform/planes; compute() without any batch is
    MetricResult(value=None, reason=...) that serialises to JSON."""
    metric = make("metric", name, params, clip=DATA_CLIP)
    expect(isinstance(metric, Metric), "metric", name, "does not satisfy the Metric protocol")
    expect(metric.inputs <= {"video", "audio", "waveform", "planes"}, "metric", name, f"inputs {metric.inputs}")
    result = metric.compute()
    expect(isinstance(result, MetricResult), "metric", name, "compute() must return a MetricResult")
    expect(result.value is None and result.reason, "metric", name,
           "without data compute() must give value None and a reason, not a figure")
    json.dumps(result.to_dict())


def check_extractor(name: str, **params: Any) -> None:
    """Builds (or raises MissingWeightsError naming the file); __call__ gives (B, dim) float32,
    finite, each clip's features independent of its batch; fingerprint in the documented form."""
    extractor = make("extractor", name, params, clip=DATA_CLIP)
    expect(isinstance(extractor, FeatureExtractor), "extractor", name,
           "does not satisfy the FeatureExtractor protocol")
    expect(FINGERPRINT.match(extractor.fingerprint()), "extractor", name,
           f"fingerprint {extractor.fingerprint()!r} is not '<name>/sha256:<hash or none>/prep:<version>'")
    if extractor.input == "video":
        one = torch.rand(1, 3, DATA_CLIP.frames, DATA_CLIP.height, DATA_CLIP.width) * 2 - 1
    else:
        one = torch.randn(1, DATA_CLIP.num_samples) * 0.1
    out = extractor(one.repeat_interleave(2, dim=0))  # two identical clips
    expect(out.shape == (2, extractor.dim) and out.dtype == torch.float32, "extractor", name,
           f"output {tuple(out.shape)} {out.dtype}, expected (2, {extractor.dim}) float32")
    expect(torch.isfinite(out).all(), "extractor", name, "features are not finite")
    expect(torch.allclose(out[0], out[1], atol=1e-5, rtol=1e-4), "extractor", name,
           "a clip's features must not depend on its batch")
