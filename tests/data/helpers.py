"""Helpers shared by the data tests."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from proav_core import ClipSpec

FOLDER_CLIP = ClipSpec(frames=8, fps=8.0, height=16, width=16, sample_rate=16000)  # the synth_root fixture's clips


def harmonic_signal(num_samples: int, sample_rate: int, seed: int = 0) -> torch.Tensor:
    """(S,) deterministic harmonic + percussive test audio: a glide, a steady tone, three noise hits."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / sample_rate
    x = 0.3 * torch.sin(2 * math.pi * (220 + 150 * t) * t) + 0.15 * torch.sin(2 * math.pi * 660 * t)
    for k in range(3):
        i = int((0.15 + 0.3 * k) * sample_rate)
        if i < num_samples:
            n = num_samples - i
            x[i:] += 0.4 * torch.exp(-torch.arange(n) / sample_rate / 0.04) * torch.randn(n, generator=g)
    return x.clamp(-1, 1)


def write_av(path, frames, fps, wave=None, sample_rate=16000, container=None, vcodec="libx264",
             acodec="aac", channels=1, pix_fmt="yuv420p"):
    """Write a media file with PyAV directly (any container/codec pair the tests need).

    frames: (T, H, W, 3) uint8 numpy; wave: (S,) or (channels, S) float32 numpy in [-1, 1]."""
    import av
    import numpy as np
    from fractions import Fraction

    with av.open(str(path), "w", format=container) as out:
        vs = out.add_stream(vcodec, rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        astream = None
        if wave is not None:
            astream = out.add_stream(acodec, rate=sample_rate, layout="mono" if channels == 1 else "stereo")
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        if astream is not None:
            data = np.asarray(wave, dtype=np.float32).reshape(channels, -1)
            size = astream.codec_context.frame_size or 1024
            fmt = astream.codec_context.format.name
            for i in range(0, data.shape[1], size):
                chunk = np.ascontiguousarray(data[:, i : i + size])
                if fmt == "s16":
                    chunk = (chunk.T.reshape(1, -1) * 32767).astype(np.int16)
                elif not fmt.endswith("p"):
                    chunk = chunk.T.reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="mono" if channels == 1 else "stereo")
                frame.sample_rate, frame.pts = sample_rate, i
                out.mux(astream.encode(frame))
            out.mux(astream.encode())
    return path


def folder_config(tmp_path: Path, root: Path, **dataset: object) -> Path:
    """cfg.toml in tmp_path: 8 frames of 16 x 16 at 8 fps from the video folder `root`; `dataset`
    adds lines to [dataset] (values in TOML syntax)."""
    path = tmp_path / "cfg.toml"
    lines = [f'name = "t"\noutput_dir = "{tmp_path}"\n[clip]\nframes = 8\nfps = 8.0\nheight = 16\nwidth = 16',
             f'[dataset]\nname = "video_folder"\nroot = "{root}"']
    lines += [f"{k} = {v}" for k, v in dataset.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
