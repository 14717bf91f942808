"""Decoding clips from sounding-video files with PyAV (FFmpeg), in proav's tensor conventions.

A clip that starts at `start` seconds (on the container clock, origin at its start) takes:
- video: T frames at times start + i / fps, each the source frame on screen at that time
  (the latest frame whose timestamp is <= the time), fitted to H x W by the resize mode
  (libswscale area filter), as uint8 RGB, then [-1, 1] floats. RESIZE_MODES:
    crop     scaled to cover H x W, aspect kept, centre-cropped (what falls outside is lost)
    pad      scaled to fit inside H x W, aspect kept, centred on black (bars: -1 after scaling)
    stretch  scaled to H x W exactly (the whole frame, aspect not kept);
- audio: mono (the mean of the channels) resampled by libswresample to clip.sample_rate, the S =
  clip.num_samples samples from sample round(start * sample_rate) on, exactly the frames'
  time span. Up to AUDIO_SLACK seconds missing at the end (encoder rounding) are zero-padded;
  more is "shorter than one clip".
Files are decoded from their beginning (no seeking), so a clip's samples do not depend on
which other clips are decoded with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import av
import numpy as np
from av.video.reformatter import VideoReformatter
import torch
from torch import Tensor

from proav_core.data.bad_input import BadInput
from proav_core.data.probe import open_media
from proav_core.interfaces.data import ClipSpec

AUDIO_SLACK = 0.05  # seconds of missing audio at a clip's end that are padded with silence
EPS = 1e-4  # seconds: timestamps this close count as equal
ResizeMode = Literal["crop", "pad", "stretch"]
RESIZE_MODES: tuple[str, ...] = get_args(ResizeMode)


def cover_size(width: int, height: int, out_w: int, out_h: int) -> tuple[int, int]:
    """(w, h) of the source scaled, aspect kept, to the smallest size covering out_w x out_h."""
    scale = max(out_w / width, out_h / height)
    return max(out_w, round(width * scale)), max(out_h, round(height * scale))


def fit_size(width: int, height: int, out_w: int, out_h: int) -> tuple[int, int]:
    """(w, h) of the source scaled, aspect kept, to the largest size inside out_w x out_h."""
    scale = min(out_w / width, out_h / height)
    return min(out_w, max(1, round(width * scale))), min(out_h, max(1, round(height * scale)))


def _rgb(frame: av.VideoFrame, out_w: int, out_h: int, scaler: VideoReformatter,
         resize: ResizeMode = "crop") -> np.ndarray:
    """One decoded frame -> (H, W, 3) uint8, fitted by the resize mode (see the module doc)."""
    if resize == "stretch":
        w, h = out_w, out_h
    elif resize == "pad":
        w, h = fit_size(frame.width, frame.height, out_w, out_h)
    else:
        w, h = cover_size(frame.width, frame.height, out_w, out_h)
    rgb = scaler.reformat(frame, width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()  # (h, w, 3)
    if resize == "pad":
        canvas = np.zeros((out_h, out_w, 3), dtype=np.uint8)
        top, left = (out_h - h) // 2, (out_w - w) // 2
        canvas[top : top + h, left : left + w] = rgb
        return canvas
    top, left = (h - out_h) // 2, (w - out_w) // 2
    return rgb[top : top + out_h, left : left + out_w]


def _decode_video(container, path: Path, times: list[float], out_w: int, out_h: int, origin: float,
                  resize: ResizeMode = "crop") -> np.ndarray:
    """Frames on screen at each of the sorted `times` -> (len(times), H, W, 3) uint8.

    A time before the first frame gets the first frame; one after the last frame's display
    interval (its timestamp + 1 / average fps) makes the file "shorter than one clip".
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = stream.average_rate or stream.guessed_rate
    frame_len = 1.0 / float(rate) if rate else 0.04
    out = np.empty((len(times), out_h, out_w, 3), dtype=np.uint8)
    pending, shown, shown_t, shown_rgb = 0, None, -math.inf, None
    scaler = VideoReformatter()  # keeps its libswscale context between frames

    def take(frame) -> np.ndarray:
        nonlocal shown_rgb
        if frame is shown:
            shown_rgb = _rgb(frame, out_w, out_h, scaler, resize) if shown_rgb is None else shown_rgb
            return shown_rgb
        return _rgb(frame, out_w, out_h, scaler, resize)

    for frame in container.decode(stream):
        t = (frame.time if frame.time is not None else shown_t + frame_len) - origin
        while pending < len(times) and times[pending] < t - EPS:
            out[pending] = take(shown if shown is not None else frame)
            pending += 1
        if pending == len(times):
            break
        shown, shown_t, shown_rgb = frame, t, None
    while pending < len(times) and shown is not None and times[pending] < shown_t + frame_len - EPS:
        out[pending] = take(shown)
        pending += 1
    if pending < len(times):
        have = shown_t + frame_len if shown is not None else 0.0
        raise BadInput(path, "shorter than one clip",
                       f"the video stops at {have:.3f} s; the clips need frames up to {times[-1]:.3f} s")
    return out


def _decode_audio(container, path: Path, sample_rate: int, until: float, origin: float) -> tuple[np.ndarray, float]:
    """Mono float32 samples from the first audio frame until past `until` s, and that frame's time."""
    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format="fltp", rate=sample_rate)  # keeps the channels; averaged below
    chunks, first = [], None
    for frame in container.decode(stream):
        if first is None:
            first = (frame.time - origin) if frame.time is not None else 0.0
        chunks.extend(r.to_ndarray().mean(axis=0) for r in resampler.resample(frame))  # (channels, n) -> (n,)
        if frame.time is not None and frame.time - origin > until + 0.5:
            break
    chunks.extend(r.to_ndarray().mean(axis=0) for r in resampler.resample(None))
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise BadInput(path, "zero-length audio", "the audio stream decodes to no samples")
    return samples, first or 0.0


def _cut(samples: np.ndarray, first: float, start: float, num: int, sample_rate: int, path: Path) -> np.ndarray:
    """The `num` samples from time `start` of a buffer whose sample 0 is at time `first`."""
    i0 = round(start * sample_rate) - round(first * sample_rate)
    front = max(0, -i0)
    piece = samples[max(i0, 0) : max(i0, 0) + num - front]
    missing = num - front - piece.size
    if missing > AUDIO_SLACK * sample_rate or front > AUDIO_SLACK * sample_rate:
        end = first + samples.size / sample_rate
        raise BadInput(path, "shorter than one clip",
                       f"audio covers {first:.3f}-{end:.3f} s, "
                       f"a clip needs {start:.3f}-{start + num / sample_rate:.3f} s")
    return np.concatenate([np.zeros(front, np.float32), piece, np.zeros(missing, np.float32)])


def decode_clips(path: str | Path, clip: ClipSpec, starts: Sequence[float],
                 resize: ResizeMode = "crop") -> list[tuple[Tensor, Tensor]]:
    """Clips starting at each of `starts` (seconds) -> [(video (3, T, H, W) in [-1, 1], waveform (S,))].

    `resize`: how frames of another aspect ratio fit H x W (RESIZE_MODES, see the module doc).
    Raises BadInput (a DataError naming the file) for files that cannot give these clips.
    """
    p = Path(path)
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r}; use one of {', '.join(RESIZE_MODES)}")
    if not starts:
        return []
    if min(starts) < 0:
        raise ValueError(f"clip starts must be >= 0 s, got {min(starts)}")
    times = sorted({round(s + i / clip.fps, 9) for s in starts for i in range(clip.frames)})
    index = {t: i for i, t in enumerate(times)}
    try:
        with open_media(p) as container:
            if not container.streams.video:
                raise BadInput(p, "no video stream", "the file holds audio only")
            if not container.streams.audio:
                raise BadInput(p, "no audio stream", "the video is silent; proav needs sounding video")
            origin = container.start_time / av.time_base if container.start_time is not None else 0.0
            frames = _decode_video(container, p, times, clip.width, clip.height, origin, resize)
        with open_media(p) as container:
            samples, first = _decode_audio(container, p, clip.sample_rate, max(starts) + clip.duration, origin)
    except av.FFmpegError as err:
        raise BadInput(p, "corrupt", f"decoding failed: {err}") from None
    out = []
    for s in starts:
        rows = [index[round(s + i / clip.fps, 9)] for i in range(clip.frames)]
        video = torch.from_numpy(frames[rows]).permute(3, 0, 1, 2).float() / 127.5 - 1  # (3, T, H, W)
        wave = torch.from_numpy(_cut(samples, first, s, clip.num_samples, clip.sample_rate, p))  # (S,)
        out.append((video.contiguous(), wave.clamp(-1, 1)))
    return out


def read_clip(path: str | Path, clip: ClipSpec, start: float = 0.0,
              resize: ResizeMode = "crop") -> tuple[Tensor, Tensor]:
    """One clip of a file: video (3, T, H, W) float32 in [-1, 1] and mono waveform (S,) float32."""
    return decode_clips(path, clip, [start], resize)[0]
