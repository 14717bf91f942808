"""Writing clips in proav's conventions: mp4 (H.264 + AAC), wav, a PNG frame strip, a PNG mel image.

Inputs: video (3, T, H, W) float in [-1, 1]; waveform (S,) float mono in [-1, 1]; the audio
representation (T, H, W) in [-1, 1]. Every writer creates the parent folder and writes to a
temporary name first, then renames, so a file that exists is complete.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile
import torch
from torch import Tensor

AAC_FRAME = 1024  # samples per AAC frame


def _atomic(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")


def _check_video(video: Tensor) -> None:
    if video.ndim != 4 or video.shape[0] != 3:
        raise ValueError(f"video must be (3, T, H, W) in [-1, 1], got {tuple(video.shape)}")


def to_uint8_frames(video: Tensor) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8 RGB."""
    _check_video(video)
    rgb = ((video.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rgb.permute(1, 2, 3, 0).contiguous().numpy()


def write_mp4(
    path: str | Path, video: Tensor, fps: float, waveform: Tensor | None = None, sample_rate: int = 16000,
    crf: int = 17, audio_bitrate: int = 128_000,
) -> Path:
    """Write an mp4: H.264 video (libx264, `crf`; yuv420p, or yuv444p when H or W is odd) and,
    when a waveform is given, a mono AAC track of the same duration (T / fps seconds; the
    waveform is cut or zero-padded to round(T / fps * sample_rate) samples)."""
    frames = to_uint8_frames(video)  # (T, H, W, 3)
    t, h, w, _ = frames.shape
    path, tmp = _atomic(path)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(tmp), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
        vs.options = {"crf": str(crf), "preset": "medium"}
        astream = None
        if waveform is not None:
            astream = out.add_stream("aac", rate=sample_rate, layout="mono")
            astream.bit_rate = audio_bitrate
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        if astream is not None:
            num = round(t / fps * sample_rate)
            wave = waveform.detach().float().cpu().reshape(-1)[:num].clamp(-1, 1).numpy()
            wave = np.pad(wave, (0, num - wave.size)).astype(np.float32)
            for i in range(0, num, AAC_FRAME):
                chunk = wave[i : i + AAC_FRAME]
                frame = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = sample_rate, i
                out.mux(astream.encode(frame))
            out.mux(astream.encode())
    os.replace(tmp, path)
    return path


def write_wav(path: str | Path, waveform: Tensor, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write a mono wav with soundfile (16-bit PCM by default; values clamped to [-1, 1])."""
    path, tmp = _atomic(path)
    data = waveform.detach().float().cpu().reshape(-1).clamp(-1, 1).numpy()
    soundfile.write(str(tmp), data, sample_rate, subtype=subtype, format="WAV")
    os.replace(tmp, path)
    return path


def _save_image(frames: Tensor, path: Path, padding: int) -> None:
    """frames (N, C, H, W) in [0, 1] side by side as one PNG. torchvision is imported here, not at
    module level: importing it also imports torch._dynamo and sympy (1-2 s), which every command
    that loads the plugins (this module among them) would otherwise pay."""
    from torchvision.utils import save_image

    save_image(frames, str(path), nrow=frames.shape[0], padding=padding, format="png")


def save_frame_strip(path: str | Path, video: Tensor, padding: int = 2) -> Path:
    """Write the T frames side by side, left to right, as one PNG (torchvision.utils)."""
    _check_video(video)
    frames = (video.detach().float().cpu().clamp(-1, 1).permute(1, 0, 2, 3) + 1) / 2  # (T, 3, H, W) in [0, 1]
    path, tmp = _atomic(path)
    _save_image(frames, tmp, padding)
    os.replace(tmp, path)
    return path


def save_mel_image(path: str | Path, audio: Tensor, padding: int = 1) -> Path:
    """Write the audio representation (T, H, W) as one grey PNG: frames left to right, loud =
    bright, low frequencies at the bottom (mel_frames' layout), one-pixel gaps between frames."""
    if audio.ndim != 3:
        raise ValueError(f"audio representation must be (T, H, W), got {tuple(audio.shape)}")
    frames = ((audio.detach().float().cpu().clamp(-1, 1) + 1) / 2)[:, None]  # (T, 1, H, W) in [0, 1]
    path, tmp = _atomic(path)
    _save_image(frames, tmp, padding)
    os.replace(tmp, path)
    return path


def write_clip_outputs(
    folder: str | Path, stem: str, video: Tensor, waveform: Tensor, fps: float, sample_rate: int,
    audio: Tensor | None = None,
) -> dict[str, Path]:
    """The per-sample outputs of `proav sample`: {stem}.mp4, {stem}.wav, {stem}_frames.png and,
    when the audio representation is given, {stem}_mel.png. Returns {kind: path}."""
    folder = Path(folder)
    out = {
        "mp4": write_mp4(folder / f"{stem}.mp4", video, fps, waveform, sample_rate),
        "wav": write_wav(folder / f"{stem}.wav", waveform, sample_rate),
        "frames": save_frame_strip(folder / f"{stem}_frames.png", video),
    }
    if audio is not None:
        out["mel"] = save_mel_image(folder / f"{stem}_mel.png", audio)
    return out
