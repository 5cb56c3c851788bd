"""Fundamental frequency and voicing per frame, framed like the mel features.

Frame n is centred on sample n * hop and describes samples [n * hop, (n + 1) * hop), as in
:class:`wavedil.audio.LogMel`, so f0 frames line up with mel frames one to one. The estimate
is librosa's pYIN (Mauch and Dixon 2014). A frame where pYIN finds no pitch (silence, noise,
a file too short to analyse) is unvoiced with f0 = 0, never NaN.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

F0_REFERENCE = 150.0
"""Hz that map to 0 in the log-f0 feature."""


def estimate_f0(wave: torch.Tensor | np.ndarray, sample_rate: int, hop: int, fmin: float = 50.0,
                fmax: float = 500.0, frame_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """f0 in Hz and the voicing decision per frame: (N,) float32 and (N,) bool, N = T // hop.

    Unvoiced frames have f0 = 0.
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
    return f0, voiced


def f0_features(f0: np.ndarray | torch.Tensor, voiced: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Two conditioning channels per frame: log2(f0 / 150 Hz) where voiced (else 0) and the
    voicing flag -> (2, N) float32."""
    f0 = torch.as_tensor(np.asarray(f0), dtype=torch.float32)
    v = torch.as_tensor(np.asarray(voiced)).bool()
    log_f0 = torch.where(v, torch.log2(f0.clamp(min=1.0) / F0_REFERENCE), torch.zeros_like(f0))
    return torch.stack([log_f0, v.float()])


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
