"""syncshapes sounds: a percussive hit per impact (timbre by class) over class-specific ambience.

Each hit starts exactly at its impact sample (round(k * S / T), the start of video frame k)
with a sharp noise transient, then a tonal body that decays within a fraction of a second:
    drum  - sine gliding down onto f0, decay 120 ms
    wood  - two inharmonic partials (4 f0, 6.3 f0), decay 40 ms
    bell  - partials 2 f0 x (1, 2.76, 5.40, 8.93), decays 300 ms / (1 + k)
    pluck - harmonics k f0, k = 1..6, amplitude 1 / k, decay 200 ms / sqrt(k)
Ambience is stationary noise shaped in the frequency domain by a log-frequency Gaussian
around a class-specific centre (one octave wide), so it sets each class apart without onsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

TIMBRES = ("drum", "wood", "bell", "pluck")


@dataclass(frozen=True)
class Voice:
    """What one class sounds like."""

    timbre: str
    pitch: float  # f0 in Hz
    ambience_hz: float  # centre of the ambient noise band


def class_voice(index: int) -> Voice:
    """The fixed voice of class `index` (independent of the seed, so classes mean the same everywhere)."""
    return Voice(
        timbre=TIMBRES[index % len(TIMBRES)],
        pitch=110.0 * 2.0 ** ((index * 5 % 12) / 4.0),
        ambience_hz=250.0 * 2.0 ** ((index * 7 % 12) / 3.0),
    )


def _partial(freq: float, t: Tensor, sample_rate: int) -> Tensor:
    """sin(2 pi f t), or silence for a partial at or above 0.45 sample_rate (no aliasing)."""
    if freq >= 0.45 * sample_rate:
        return torch.zeros_like(t)
    return torch.sin(2 * math.pi * freq * t)


def hit(voice: Voice, length: int, sample_rate: int, gen: torch.Generator) -> Tensor:
    """(min(length, sample_rate),) one percussive hit starting at sample 0, peak 1 (at most 1 s)."""
    n = min(length, sample_rate)
    t = torch.arange(n, dtype=torch.float32) / sample_rate
    f0 = voice.pitch
    click = torch.randn(n, generator=gen, dtype=torch.float32) * torch.exp(-t / 0.004)
    if voice.timbre == "drum":
        freq = (f0 * (1.0 + 1.5 * torch.exp(-t / 0.015))).clamp_max(0.45 * sample_rate)
        body = torch.sin(2 * math.pi * torch.cumsum(freq, 0) / sample_rate) * torch.exp(-t / 0.12)
    elif voice.timbre == "wood":
        body = (_partial(4 * f0, t, sample_rate) + 0.6 * _partial(6.3 * f0, t, sample_rate)) * torch.exp(-t / 0.04)
    elif voice.timbre == "bell":
        body = sum(a * _partial(2 * f0 * r, t, sample_rate) * torch.exp(-t * (1 + k) / 0.3)
                   for k, (r, a) in enumerate(zip((1.0, 2.76, 5.40, 8.93), (1.0, 0.6, 0.4, 0.25))))
    elif voice.timbre == "pluck":
        body = sum(_partial(k * f0, t, sample_rate) / k * torch.exp(-t * math.sqrt(k) / 0.2) for k in range(1, 7))
    else:
        raise ValueError(f"unknown timbre {voice.timbre!r}; known: {', '.join(TIMBRES)}")
    out = 0.35 * click + body
    fade = min(n, sample_rate // 100)  # 10 ms fade-out where the hit is cut at one second
    if n == sample_rate and fade:
        out[-fade:] *= torch.linspace(1.0, 0.0, fade, dtype=torch.float32)
    return (out / out.abs().max().clamp_min(1e-9)).float()


def ambience(voice: Voice, num_samples: int, sample_rate: int, level: float, gen: torch.Generator) -> Tensor:
    """(S,) stationary band noise, RMS `level`, centred on the class's ambience frequency."""
    if num_samples == 0 or level == 0:
        return torch.zeros(num_samples)
    white = torch.randn(num_samples, generator=gen, dtype=torch.float32)
    spec = torch.fft.rfft(white)  # (S // 2 + 1,)
    freqs = torch.fft.rfftfreq(num_samples, 1.0 / sample_rate).clamp_min(1.0)
    octaves = torch.log2(freqs / voice.ambience_hz)
    noise = torch.fft.irfft(spec * torch.exp(-0.5 * (octaves / 0.5) ** 2), n=num_samples)
    return (noise * level / noise.pow(2).mean().sqrt().clamp_min(1e-12)).float()


def soundtrack(
    voice: Voice, onsets: list[int], num_samples: int, sample_rate: int, hit_level: float,
    ambient_level: float, gen: torch.Generator, ambience_gen: torch.Generator | None = None,
) -> Tensor:
    """(S,) waveform in [-1, 1]: ambience plus one hit starting at each onset sample. The
    ambience draws its noise from `ambience_gen` when given (else from `gen`, first), so the
    same hits can be heard over other draws of the same ambience (benchmarks/bench_mel_texture.py)."""
    out = ambience(voice, num_samples, sample_rate, ambient_level, gen if ambience_gen is None else ambience_gen)
    for onset in onsets:
        length = num_samples - onset
        if length > 0:
            gain = hit_level * (0.8 + 0.4 * float(torch.rand((), generator=gen)))
            sound = hit(voice, length, sample_rate, gen)
            out[onset : onset + sound.shape[0]] += gain * sound
    peak = float(out.abs().max()) if num_samples else 0.0
    return out / peak * 0.99 if peak > 0.99 else out
