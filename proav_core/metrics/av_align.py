"""AV-Align (paper appendix 5.5): audio onsets matched against optical-flow peaks.

Audio peaks are librosa onsets (onset_strength + onset_detect) at 22 050 Hz with hop 512,
the reference implementation's choice (at 16 kHz librosa splits one click into two onsets).
Video peaks are local maxima of the mean Farneback optical-flow magnitude between
consecutive frames (OpenCV, parameters 0.5, 3, 15, 3, 5, 1.2, 0), ignoring values below a
threshold; the flow between frames i-1 and i is placed at time i / fps, and the first entry
repeats the flow between frames 0 and 1, as in the reference code.

Scores (`score`):
- "symmetric" (the paper, JavisBench): 1/2 [ matched audio peaks / |A| + matched video
  peaks / |V| ], a peak matching when one of the other kind lies within +-window frames,
  inclusive. A direction with no peaks is left out of the mean; no peaks at all -> NaN.
- "iou" (TempoTokens): audio peaks with a video peak strictly within +-window frames,
  divided by |A| + |V| - matches; no peaks at all -> NaN.
No learned weights are involved. librosa and OpenCV come with the `eval` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from proav_core.errors import ProavError

AlignMode = Literal["symmetric", "iou"]
FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)  # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags


def _count_matched(src: np.ndarray, dst: np.ndarray, tol: float, inclusive: bool) -> int:
    if src.size == 0 or dst.size == 0:
        return 0
    gap = np.abs(src[:, None] - dst[None, :])  # (|src|, |dst|)
    hit = gap <= tol + 1e-9 if inclusive else gap < tol - 1e-9
    return int(hit.any(axis=1).sum())


def match_peaks(
    audio_peaks: Sequence[float],
    video_peaks: Sequence[float],
    fps: float,
    window: int = 3,
    mode: AlignMode = "symmetric",
) -> float:
    """AV-Align of one clip from peak times in seconds (see the module docstring)."""
    a = np.asarray(audio_peaks, dtype=np.float64).reshape(-1)
    v = np.asarray(video_peaks, dtype=np.float64).reshape(-1)
    tol = window / fps
    if mode == "symmetric":
        ratios = []
        if a.size:
            ratios.append(_count_matched(a, v, tol, inclusive=True) / a.size)
        if v.size:
            ratios.append(_count_matched(v, a, tol, inclusive=True) / v.size)
        return float(np.mean(ratios)) if ratios else float("nan")
    if mode == "iou":
        union = a.size + v.size
        if union == 0:
            return float("nan")
        matched = _count_matched(a, v, tol, inclusive=False)
        return matched / (union - matched)
    raise ValueError(f"unknown AV-Align mode {mode!r}; use 'symmetric' or 'iou'")


def _cv2():
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ProavError("AV-Align needs OpenCV: pip install 'proav[eval]'") from err
    return cv2


def _librosa():
    try:
        import librosa
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ProavError("AV-Align needs librosa: pip install 'proav[eval]'") from err
    return librosa


def video_to_gray(video: Tensor) -> np.ndarray:
    """(3, T, H, W) float in [-1, 1] -> (T, H, W) uint8 luma (OpenCV RGB2GRAY weights)."""
    cv2 = _cv2()
    rgb = ((video.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    frames = rgb.permute(1, 2, 3, 0).contiguous().numpy()  # (T, H, W, 3)
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def flow_magnitudes(gray: np.ndarray) -> np.ndarray:
    """(T, H, W) uint8 -> (T,) mean Farneback flow magnitude; entry i = flow(i-1 -> i), entry 0 = entry 1."""
    cv2 = _cv2()
    if gray.shape[0] < 2:
        return np.zeros(gray.shape[0])
    mags = []
    for prev, cur in zip(gray[:-1], gray[1:]):
        flow = cv2.calcOpticalFlowFarneback(prev, cur, None, *FARNEBACK)  # (H, W, 2)
        mags.append(float(cv2.magnitude(flow[..., 0], flow[..., 1]).mean()))
    return np.asarray([mags[0], *mags])


def video_peaks(magnitudes: np.ndarray, fps: float, threshold: float = 0.1) -> np.ndarray:
    """Times (s) of strict local maxima of the flow trajectory at or above `threshold`."""
    m = np.asarray(magnitudes, dtype=np.float64)
    idx = [i for i in range(1, len(m) - 1) if m[i - 1] < m[i] > m[i + 1] and m[i] >= threshold]
    return np.asarray(idx, dtype=np.float64) / fps


def audio_onsets(waveform: Tensor | np.ndarray, sample_rate: int, target_rate: int = 22050, hop_length: int = 512) -> np.ndarray:
    """Times (s) of librosa onsets of a mono waveform (S,), resampled to `target_rate` first."""
    librosa = _librosa()
    y = torch.as_tensor(waveform).detach().float().cpu().reshape(-1).numpy()
    if sample_rate != target_rate:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=target_rate)
    env = librosa.onset.onset_strength(y=y, sr=target_rate, hop_length=hop_length)
    frames = librosa.onset.onset_detect(onset_envelope=env, sr=target_rate, hop_length=hop_length)
    return librosa.frames_to_time(frames, sr=target_rate, hop_length=hop_length)


def warm_up() -> None:
    """Run librosa's onset detection once on silence. Its numba code compiles on the first call
    in a fresh environment (20-40 s on a 2-core CPU) and is cached in site-packages, so the
    Makefile calls this once after installing and no run pays it again."""
    audio_onsets(np.zeros(22050, dtype=np.float32), 22050)


def av_align(
    video: Tensor,
    waveform: Tensor,
    fps: float,
    sample_rate: int,
    *,
    window: int = 3,
    mode: AlignMode = "symmetric",
    flow_threshold: float = 0.1,
    onset_rate: int = 22050,
    hop_length: int = 512,
) -> tuple[float, np.ndarray, np.ndarray]:
    """AV-Align of one clip: video (3, T, H, W) in [-1, 1], waveform (S,) -> (score, audio peaks, video peaks)."""
    a = audio_onsets(waveform, sample_rate, onset_rate, hop_length)
    v = video_peaks(flow_magnitudes(video_to_gray(video)), fps, flow_threshold)
    return match_peaks(a, v, fps, window, mode), a, v
