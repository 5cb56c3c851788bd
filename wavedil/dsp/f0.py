"""Fundamental frequency and voicing per frame, framed like the mel features.

Frame n is centred on sample n * hop and describes samples [n * hop, (n + 1) * hop), as in
:class:`wavedil.dsp.audio.LogMel`, so f0 frames line up with mel frames one to one. The estimate
is librosa's pYIN (Mauch and Dixon 2014), optionally refined per frame (:func:`refine_f0`).
A frame where pYIN finds no pitch (silence, noise, a file too short to analyse) is unvoiced
with f0 = 0, never NaN.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

F0_REFERENCE = 150.0
"""Hz that map to 0 in the log-f0 feature."""

REFINE_PERIODS = 3.0
"""Length of the window refine_f0 analyses, in periods of the frame's f0."""
REFINE_SPAN_CENTS = 60.0
"""How far refine_f0 searches around pYIN's estimate (either side)."""
REFINE_STEP_CENTS = 2.0
"""Spacing of refine_f0's candidates (a parabola through the best three refines it further)."""
REFINE_MAX_HZ = 4000.0
"""refine_f0 sums the harmonics below this frequency."""
REFINE_FFT = 8192
"""Zero-padded FFT size of refine_f0's harmonic sums (2 Hz bins at 16 kHz)."""


def estimate_f0(wave: torch.Tensor | np.ndarray, sample_rate: int, hop: int, fmin: float = 50.0,
                fmax: float = 500.0, frame_length: int | None = None,
                refine: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """f0 in Hz and the voicing decision per frame: (N,) float32 and (N,) bool, N = T // hop.

    Unvoiced frames have f0 = 0. ``refine``: pass the voiced frames through :func:`refine_f0`.
    """
    import librosa

    x = np.asarray(wave.detach().cpu() if isinstance(wave, torch.Tensor) else wave, np.float64)
    if x.ndim != 1:
        raise ValueError(f"estimate_f0: expected a mono signal (T,), got shape {x.shape}")
    if not 0 < fmin < fmax < sample_rate / 2:
        raise ValueError(f"estimate_f0: need 0 < fmin < fmax < sample_rate / 2, got fmin={fmin}, "
                         f"fmax={fmax}, sample_rate={sample_rate}")
    n = x.shape[0] // hop
    f0 = np.zeros(n, np.float32)
    voiced = np.zeros(n, bool)
    frame_length = frame_length or max(4 * hop, 2 ** math.ceil(math.log2(2.5 * sample_rate / fmin)))
    if n == 0 or not np.isfinite(x).all() or np.abs(x).max() == 0.0:
        return f0, voiced
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, flag, _ = librosa.pyin(x, fmin=fmin, fmax=fmax, sr=sample_rate,
                                    frame_length=frame_length, hop_length=hop, center=True)
    m = min(n, est.shape[0])
    ok = flag[:m] & np.isfinite(est[:m])
    voiced[:m] = ok
    f0[:m] = np.where(ok, np.nan_to_num(est[:m]), 0.0)
    if refine:
        f0 = refine_f0(x, f0, voiced, sample_rate, hop)
    return f0, voiced


def refine_f0(wave: np.ndarray, f0: np.ndarray, voiced: np.ndarray, sample_rate: int,
              hop: int) -> np.ndarray:
    """A sharper f0 for every voiced frame: (N,) Hz -> (N,) float32, unvoiced frames unchanged.

    pYIN's frames (64 ms at 16 kHz, long enough for 50 Hz) average over fast pitch movement,
    and a vocoder whose harmonics sit at k f0 puts them where that average says. Here each
    voiced frame n is re-estimated on a Hann window of REFINE_PERIODS periods centred on
    sample n * hop: the candidate within +-REFINE_SPAN_CENTS of pYIN's value whose harmonics
    below REFINE_MAX_HZ carry the most energy (harmonic-sum pitch estimation, Hermes 1988),
    on a grid of REFINE_STEP_CENTS refined by a parabola through the best three. Measured by
    benchmarks/vocoder.py on the held-out espeak-ng sentences: the harmonic-noise vocoder
    trained on refined f0 is 20.8 cents RMS from the originals' pitch tracks, the one trained
    on pYIN's f0 35.5 (the README's speech table).
    """
    x = np.asarray(wave, np.float64).reshape(-1)
    out = np.asarray(f0, np.float64).copy()
    cents = np.arange(-REFINE_SPAN_CENTS, REFINE_SPAN_CENTS + REFINE_STEP_CENTS / 2, REFINE_STEP_CENTS)
    ratios = 2.0 ** (cents / 1200.0)
    bins = np.arange(REFINE_FFT // 2 + 1)
    for n in np.nonzero(np.asarray(voiced, bool) & (out > 0))[0]:
        hz = out[n]
        length = int(round(REFINE_PERIODS * sample_rate / hz)) | 1  # odd: centred on n * hop
        if length > REFINE_FFT:
            continue
        start = n * hop - length // 2
        seg = np.zeros(length)
        a, b = max(start, 0), min(start + length, x.size)
        if b <= a:
            continue
        seg[a - start:b - start] = x[a:b]
        power = np.abs(np.fft.rfft(seg * np.hanning(length), REFINE_FFT)) ** 2
        k = np.arange(1, max(1, int(REFINE_MAX_HZ // (hz * ratios[-1]))) + 1)
        where = (hz * ratios)[:, None] * k[None] * (REFINE_FFT / sample_rate)  # (candidates, K)
        total = np.interp(where, bins, power).sum(axis=1)
        i = int(np.argmax(total))
        if total[i] <= 0.0:
            continue
        shift = 0.0
        if 0 < i < total.size - 1:
            curve = total[i - 1] - 2.0 * total[i] + total[i + 1]
            if curve < 0:
                shift = float(np.clip(0.5 * (total[i - 1] - total[i + 1]) / curve, -0.5, 0.5))
        out[n] = hz * 2.0 ** ((cents[i] + shift * REFINE_STEP_CENTS) / 1200.0)
    return out.astype(np.float32)


def f0_features(f0: np.ndarray | torch.Tensor, voiced: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Two conditioning channels per frame: log2(f0 / 150 Hz) where voiced (else 0) and the
    voicing flag -> (2, N) float32."""
    f0 = torch.as_tensor(np.asarray(f0), dtype=torch.float32)
    v = torch.as_tensor(np.asarray(voiced)).bool()
    log_f0 = torch.where(v, torch.log2(f0.clamp(min=1.0) / F0_REFERENCE), torch.zeros_like(f0))
    return torch.stack([log_f0, v.float()])


def hz_of_features(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`f0_features` for frames (B, C, N) whose last two channels are the
    f0 pair: f0 in Hz (B, N), unvoiced frames holding a voiced neighbour's value
    (:func:`fill_unvoiced`, so that oscillators glide instead of jumping), and voicing (B, N)
    bool."""
    voiced = features[:, -1] > 0.5
    hz = F0_REFERENCE * torch.pow(2.0, features[:, -2])
    return fill_unvoiced(hz, voiced, F0_REFERENCE), voiced


def fill_unvoiced(f0: torch.Tensor, voiced: torch.Tensor, default: float) -> torch.Tensor:
    """f0 (B, N) Hz with unvoiced frames holding the last voiced frame's value (the first
    voiced value before any, ``default`` in a fully unvoiced row), so the oscillators glide
    instead of jumping at voicing changes."""
    B, N = f0.shape
    idx = torch.arange(N, device=f0.device).expand(B, N)
    last = torch.where(voiced, idx, torch.full_like(idx, -1)).cummax(dim=-1).values  # (B, N)
    first = torch.where(voiced, idx, torch.full_like(idx, N)).min(dim=-1).values  # (B,)
    any_voiced = first < N
    pick = torch.where(last >= 0, last, first[:, None].clamp(max=N - 1))
    out = torch.gather(f0, 1, pick)
    return torch.where(any_voiced[:, None], out, torch.full_like(out, default))


def sample_periods(f0: np.ndarray | torch.Tensor, voiced: np.ndarray | torch.Tensor, hop: int,
                   sample_rate: int, n_samples: int) -> torch.Tensor:
    """Pitch period in samples for every sample (the period of its frame), 0 where unvoiced:
    (n_samples,) long."""
    f0 = torch.as_tensor(np.asarray(f0), dtype=torch.float32)
    v = torch.as_tensor(np.asarray(voiced)).bool()
    if f0.numel() == 0:
        return torch.zeros(n_samples, dtype=torch.long)
    frame = (torch.arange(n_samples) // hop).clamp(max=f0.numel() - 1)
    per = torch.round(sample_rate / f0.clamp(min=1.0)).long()
    return torch.where(v, per, torch.zeros_like(per))[frame]


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency of a MIDI note: 69 -> 440.0."""
    return 440.0 * 2.0 ** ((midi - 69) / 12)
