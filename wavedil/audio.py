"""Audio I/O (soundfile), resampling, mu-law companding and log-mel features (torchaudio)."""

from __future__ import annotations

import math

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT


def mulaw_encode(x: torch.Tensor, classes: int = 256) -> torch.Tensor:
    """Samples in [-1, 1] -> mu-law class indices in [0, classes) (long)."""
    return AF.mu_law_encoding(x.clamp(-1.0, 1.0), classes)


def mulaw_decode(q: torch.Tensor, classes: int = 256) -> torch.Tensor:
    """Mu-law class indices -> samples in [-1, 1]."""
    return AF.mu_law_decoding(q, classes)


def load_audio(path: str | Path, sample_rate: int | None = None) -> tuple[torch.Tensor, int]:
    """Read a file with soundfile, mix to mono, optionally resample: -> ((T,) float32, rate)."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (T, channels)
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if sample_rate is not None and rate != sample_rate:
        wave = AF.resample(wave, rate, sample_rate)
        rate = sample_rate
    return wave, rate


def save_audio(path: str | Path, wave: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    """Write mono samples in [-1, 1] as 16-bit PCM (wav/flac by extension)."""
    data = wave.detach().cpu().float().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
    sf.write(str(path), np.clip(data.reshape(-1), -1.0, 1.0), sample_rate, subtype="PCM_16")


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None) -> np.ndarray:
    """The filterbank of :class:`LogMel`, (n_mels, n_fft // 2 + 1) float64: torchaudio's
    melscale_fbanks, htk mel scale, no normalisation."""
    fb = AF.melscale_fbanks(n_fft // 2 + 1, f_min, f_max if f_max is not None else sample_rate / 2,
                            n_mels, sample_rate, norm=None, mel_scale="htk")  # (freqs, n_mels)
    return fb.numpy().T.astype(np.float64)


class LogMel(torch.nn.Module):
    """Log-mel features with one frame per ``hop`` samples: (B, T) -> (B, n_mels, T // hop).

    Frame n is centred on sample n * hop, so frame n conditions samples [n*hop, (n+1)*hop).
    Magnitudes are mapped to decibels and scaled so -100 dB -> 0 and 0 dB -> 1 (floor at 0),
    the range r9y9's and Tacotron's vocoders use: inputs of order one train faster.
    """

    FLOOR_DB = -100.0

    def __init__(self, sample_rate: int, hop: int, n_mels: int = 80, n_fft: int | None = None,
                 f_min: float = 0.0, f_max: float | None = None) -> None:
        super().__init__()
        self.hop = hop
        self.mel = AT.MelSpectrogram(sample_rate, n_fft=n_fft or 4 * hop, hop_length=hop,
                                     n_mels=n_mels, f_min=f_min, f_max=f_max, power=1.0,
                                     center=True)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        frames = wave.shape[-1] // self.hop
        db = 20.0 * torch.log10(self.mel(wave)[..., :frames].clamp(min=1e-5))
        return (db - self.FLOOR_DB) / -self.FLOOR_DB

    @classmethod
    def log_magnitudes(cls, features: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """The inverse of the scaling in natural-log units: features in [0, 1] -> ln |mel|,
        for numpy arrays and (differentiably) for tensors alike."""
        return (features * -cls.FLOOR_DB + cls.FLOOR_DB) * (math.log(10.0) / 20.0)

    @classmethod
    def magnitudes(cls, features: np.ndarray) -> np.ndarray:
        """The inverse of the scaling: features in [0, 1] -> mel magnitudes (float64)."""
        return np.exp(cls.log_magnitudes(np.asarray(features, np.float64)))
