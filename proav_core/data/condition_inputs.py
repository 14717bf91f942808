"""The given side of a conditional task, read from a file and cut into the config's clips.

    read_audio_clips(path, clip) -> (N, S)                  a wav/flac/mp3/... or the audio track of any video
    read_video_clips(path, clip, resize) -> (N, 3, T, H, W) the frames of a video file (its audio is ignored)
    given_tensor_clips(modality, x, clip, resize)           the same cut for a side given as a tensor
    resize_frames(x, height, width, resize)                 frames of another size fitted to H x W

Decoding follows data/decode.py (mono, resampled to clip.sample_rate; frames sampled at
clip.fps, fitted to H x W by the resize mode: crop (the default: cover, centre-crop), pad or
stretch, see decode.RESIZE_MODES). Tensors of another frame size are fitted the same way
(`resize_frames`, antialiased bilinear in place of libswscale's area filter). A longer input gives
N = floor(duration / clip.duration) back-to-back clips from its start; the rest is dropped.
Every failure is a BadInput naming the file: no such stream, unreadable, shorter than a clip.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import torch
from einops import rearrange
from torch import Tensor
from torch.nn import functional as F

from proav_core.data.bad_input import BadInput
from proav_core.data.decode import RESIZE_MODES, ResizeMode, _cut, _decode_audio, _decode_video, cover_size, fit_size
from proav_core.data.probe import _stream_seconds, open_media
from proav_core.errors import UsageError, did_you_mean
from proav_core.interfaces.data import ClipSpec

EPS = 1e-6


def _origin(container) -> float:
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def _count(path: Path, seconds: float, clip: ClipSpec) -> int:
    n = math.floor(seconds / clip.duration + EPS)
    if n < 1:
        raise BadInput(path, "shorter than one clip",
                       f"it holds {seconds:.3f} s; a clip is {clip.frames} frames at {clip.fps:g} fps "
                       f"= {clip.duration:.3f} s")
    return n


def read_audio_clips(path: str | Path, clip: ClipSpec) -> Tensor:
    """(N, S) float32 mono waveforms in [-1, 1] at clip.sample_rate, N >= 1 back-to-back clips."""
    p = Path(path)
    try:
        with open_media(p, extensions=None) as container:
            if not container.streams.audio:
                raise BadInput(p, "no audio stream", "the file has no audio track to condition on")
            samples, first = _decode_audio(container, p, clip.sample_rate, math.inf, _origin(container))
    except av.FFmpegError as err:
        raise BadInput(p, "corrupt", f"decoding failed: {err}") from None
    n = _count(p, first + samples.size / clip.sample_rate, clip)
    clips = [_cut(samples, first, k * clip.duration, clip.num_samples, clip.sample_rate, p) for k in range(n)]
    return torch.from_numpy(np.stack(clips)).clamp(-1, 1)  # (N, S)


def read_video_clips(path: str | Path, clip: ClipSpec, resize: ResizeMode = "crop") -> Tensor:
    """(N, 3, T, H, W) float32 frames in [-1, 1], N >= 1 back-to-back clips fitted by `resize`."""
    check_resize(resize)
    p = Path(path)
    try:
        with open_media(p) as container:
            if not container.streams.video:
                raise BadInput(p, "no video stream", "the file has no video to condition on")
            origin = _origin(container)
            stream = container.streams.video[0]
            seconds = _stream_seconds(stream, origin)
            if seconds is None:
                seconds = container.duration / av.time_base if container.duration is not None else clip.duration
            n = _count(p, seconds, clip)
            times = [round(k * clip.duration + i / clip.fps, 9) for k in range(n) for i in range(clip.frames)]
            frames = _decode_video(container, p, times, clip.width, clip.height, origin, resize)  # (N T, H, W, 3)
    except av.FFmpegError as err:
        raise BadInput(p, "corrupt", f"decoding failed: {err}") from None
    video = torch.from_numpy(frames).float() / 127.5 - 1  # (N T, H, W, 3)
    return video.reshape(n, clip.frames, clip.height, clip.width, 3).permute(0, 4, 1, 2, 3).contiguous()


def check_resize(resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise UsageError(f"--resize: unknown mode {resize!r}{did_you_mean(resize, RESIZE_MODES)}; known: "
                         f"{', '.join(RESIZE_MODES)}")


def resize_frames(x: Tensor, height: int, width: int, resize: ResizeMode = "crop") -> Tensor:
    """(..., H', W') frames in [-1, 1] -> (..., height, width), fitted as a file's frames are:
    crop covers and centre-crops, pad fits inside and centres on black (-1), stretch ignores the
    aspect. Antialiased bilinear; frames already of the size are returned as they are."""
    check_resize(resize)
    h0, w0 = x.shape[-2:]
    if (h0, w0) == (height, width):
        return x
    if resize == "stretch":
        w, h = width, height
    else:
        w, h = (fit_size if resize == "pad" else cover_size)(w0, h0, width, height)
    lead = x.shape[:-2]
    flat = F.interpolate(x.reshape(-1, 1, h0, w0).float(), size=(h, w), mode="bilinear", antialias=True,
                         align_corners=False)  # (M, 1, h, w)
    if resize == "pad":
        top, left = (height - h) // 2, (width - w) // 2
        flat = F.pad(flat, (left, width - w - left, top, height - h - top), value=-1.0)
    else:
        top, left = (h - height) // 2, (w - width) // 2
        flat = flat[..., top : top + height, left : left + width]
    return flat.clamp(-1, 1).reshape(*lead, height, width)


def given_tensor_clips(modality: str, x: Tensor, clip: ClipSpec, resize: ResizeMode = "crop") -> Tensor:
    """A given side passed as a tensor -> back-to-back clips, as a file would be cut.

    audio: (S,) at clip.sample_rate with S >= one clip's samples -> (N, S_clip), the rest
    dropped; (N, S_clip) is taken as it is. video: (3, T', H', W') in [-1, 1] at clip.fps with
    T' >= clip.frames -> (N, 3, T, H, W); (N, 3, T, H', W') of clips; frames of another size
    are fitted to H x W by `resize` (resize_frames). Anything else is a UsageError naming the
    shapes that work (a file path is decoded, resampled and resized)."""
    if modality == "audio":
        s = clip.num_samples
        if x.dim() == 1 and x.shape[0] >= s:
            n = x.shape[0] // s
            return x[: n * s].reshape(n, s)  # (N, S)
        if x.dim() == 2 and x.shape[1] == s:
            return x  # (N, S)
        raise UsageError(f"a2v: the waveform tensor is {tuple(x.shape)}; give (S,) with S >= {s} (cut into clips of "
                         f"{s} samples, {clip.duration:g} s at {clip.sample_rate} Hz) or (N, {s}); a file path is "
                         "decoded and resampled for you")
    t, h, w = clip.frames, clip.height, clip.width
    if x.dim() == 4 and x.shape[0] == 3 and x.shape[1] >= t:
        n = x.shape[1] // t
        clips = rearrange(x[:, : n * t], "c (n t) h w -> n c t h w", n=n)  # (N, 3, T, H', W')
        return resize_frames(clips, h, w, resize)  # (N, 3, T, H, W)
    if x.dim() == 5 and tuple(x.shape[1:3]) == (3, t):
        return resize_frames(x, h, w, resize)  # (N, 3, T, H, W)
    raise UsageError(f"v2a: the video tensor is {tuple(x.shape)}; give (3, T', H', W') with T' >= {t} frames at "
                     f"{clip.fps:g} fps (cut into clips of {t}, fitted to {h} x {w}) or (N, 3, {t}, H', W'); a file "
                     "path is decoded and resized for you")
