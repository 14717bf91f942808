"""shape_sync, the audio half: onsets and class-from-timbre of syncshapes soundtracks, no weights.

Everything runs on one log-mel spectrogram (torch STFT, Hann window of ~32 ms, hop a quarter
of it, 64 mel bands, dB floored `top_db` below the clip's loudest bin):

- Onsets: onset strength = per hop, the mean rise in dB from the previous hop over the quarter
  of bands that rise most, after lifting every band to its noise floor (its median over the
  clip + 3 dB). Stationary noise (the class ambience, or broadband noise in a generated clip)
  then hardly rises at all, while a hit lifts its bands by tens of dB. Peaks (local maxima
  within +-50 ms) `threshold_db` above the clip's median strength are onsets. An onset at
  sample s lies on video frame round(s * T / S) (frame k starts at sample round(k * S / T));
  one nearer the end of the clip than half a frame is dropped. Hops whose window runs past
  the end are never onsets (the STFT's reflect padding turns a waveform cut off mid-tone
  into a click there), and a hit in the very first hop has no earlier hop to rise from.
- Class: the clip's timbre profile (the ambience, a low quantile over time, and the hits,
  the mean of the loudest hops; each centred over bands and unit-normed, so loudness does not
  matter) compared by cosine with reference profiles synthesised by syncshapes_sound for
  every class at the same sample rate and length.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torchaudio.functional as AF
from torch import Tensor

from proav_core.data.timing import frame_sample_bounds
from proav_plugins.data.syncshapes_sound import class_voice, soundtrack

N_MELS = 64
TOP_DB = 70.0


def stft_sizes(sample_rate: int) -> tuple[int, int]:
    """(n_fft, hop): a power-of-two window of about 32 ms and a quarter of it (512, 128 at 16 kHz)."""
    n_fft = 2 ** max(6, round(math.log2(0.032 * sample_rate)))
    return n_fft, n_fft // 4


def log_mel(waveform: Tensor, sample_rate: int, top_db: float = TOP_DB) -> Tensor:
    """waveform (S,) -> log-mel power (N_MELS, N) in dB, N = S // hop + 1 hops (hop n centred on sample n * hop),
    floored `top_db` below the loudest bin (and at -100 dB)."""
    n_fft, hop = stft_sizes(sample_rate)
    x = waveform.detach().float().cpu().reshape(-1)
    if x.shape[0] < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.shape[0]))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=True, pad_mode="reflect",
                      return_complex=True).abs().pow(2)  # (n_fft // 2 + 1, N)
    fb = AF.melscale_fbanks(n_fft // 2 + 1, 20.0, sample_rate / 2, N_MELS, sample_rate, norm="slaney")  # (F, M)
    db = 10 * torch.log10(torch.einsum("fn,fm->mn", spec, fb).clamp_min(1e-10))  # (M, N)
    return db.clamp_min(float(db.max()) - top_db)


def onset_strength(db: Tensor, floor_db: float = 3.0, top_share: float = 0.25) -> Tensor:
    """log-mel (M, N) in dB -> onset strength (N,), 0 at n = 0: the mean over the `top_share`
    bands that rise most of the rise from hop n-1 to n, with every band first lifted to its
    noise floor (its median over time + floor_db), so stationary noise hardly rises at all."""
    lifted = torch.maximum(db, db.median(1, keepdim=True).values + floor_db)  # (M, N)
    rise = (lifted[:, 1:] - lifted[:, :-1]).clamp_min(0)  # (M, N - 1)
    top = rise.topk(max(1, round(top_share * db.shape[0])), dim=0).values.mean(0)  # (N - 1,)
    return torch.cat([top.new_zeros(1), top])


def detect_onsets(waveform: Tensor, sample_rate: int, frames: int, threshold_db: float = 3.0) -> list[int]:
    """Video frames (sorted, unique, in [0, T-1]) on which audio onsets start.

    waveform (S,) at `sample_rate` spanning a clip of `frames` video frames; an onset is a
    peak of onset_strength (local maximum within +-50 ms) at least `threshold_db` above its
    median over the clip; its sample n * hop is put on frame round(n * hop * T / S), and
    dropped when that is T (the last half frame: it starts after the clip).
    """
    num_samples = int(waveform.shape[-1])
    if num_samples == 0 or frames < 1:
        return []
    n_fft, hop = stft_sizes(sample_rate)
    flux = onset_strength(log_mel(waveform, sample_rate))  # (N,)
    reach = max(1, round(0.05 * sample_rate / hop))
    local_max = torch.nn.functional.max_pool1d(flux[None, None], 2 * reach + 1, 1, reach)[0, 0]  # (N,)
    inside = torch.arange(flux.shape[0]) * hop + n_fft // 2 <= num_samples  # window within the clip
    peaks = (flux >= local_max) & (flux - flux.median() >= threshold_db) & inside
    out = {round(int(n) * hop * frames / num_samples) for n in torch.nonzero(peaks).flatten()}
    return sorted(k for k in out if k < frames)


def timbre_profile(waveform: Tensor, sample_rate: int, ambience_quantile: float = 0.2,
                   loud_share: float = 0.1) -> Tensor:
    """waveform (S,) -> (2 * N_MELS,) profile: [ambience, hits], each centred over bands and unit-normed.

    ambience: the `ambience_quantile` quantile over hops of each band (the quiet part);
    hits: the mean of the `loud_share` loudest hops (by mean dB over bands).
    """
    db = log_mel(waveform, sample_rate)  # (M, N)
    quiet = torch.quantile(db, ambience_quantile, dim=1)  # (M,)
    k = max(1, round(loud_share * db.shape[1]))
    loud = db[:, db.mean(0).topk(k).indices].mean(1)  # (M,)
    parts = [p - p.mean() for p in (quiet, loud)]
    return torch.cat([p / p.norm().clamp_min(1e-6) for p in parts])


@lru_cache(maxsize=16)
def reference_profiles(num_classes: int, sample_rate: int, num_samples: int, frames: int) -> Tensor:
    """(C, 2 * N_MELS) unit-norm mean timbre profiles of syncshapes soundtracks of every class
    (two clips each: one hit mid-clip, and hits on frames 2 and T-2; syncshapes' default levels)."""
    bounds = frame_sample_bounds(num_samples, frames)
    last = max(2, frames - 2)
    layouts = [[min(last, max(2, frames // 2))], [2, last]]
    refs = []
    for c in range(num_classes):
        gen = torch.Generator().manual_seed(1000 + c)
        voice = class_voice(c)
        prof = torch.stack([
            timbre_profile(soundtrack(voice, sorted({bounds[k] for k in ks}), num_samples, sample_rate, 0.6, 0.02, gen),
                           sample_rate)
            for ks in layouts])  # (2, D)
        mean = prof.mean(0)
        refs.append(mean / mean.norm().clamp_min(1e-6))
    return torch.stack(refs)  # (C, D)


def classify_audio(waveform: Tensor, sample_rate: int, frames: int, num_classes: int) -> tuple[int, Tensor]:
    """(class, cosine similarities (C,)) of the clip's timbre profile to every class's reference."""
    refs = reference_profiles(num_classes, sample_rate, int(waveform.shape[-1]), frames)  # (C, D)
    prof = timbre_profile(waveform, sample_rate)  # (D,)
    sims = refs @ (prof / prof.norm().clamp_min(1e-6))  # (C,)
    return int(sims.argmax()), sims
