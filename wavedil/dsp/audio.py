"""Audio I/O (soundfile), resampling, mu-law companding and log-mel features (torchaudio)."""

from __future__ import annotations

import math

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF


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


MEL_SCALES = ("htk", "slaney")
"""Mel scales of the filterbank: HTK's 2595 log10(1 + f / 700), or Slaney's (linear below
1 kHz, logarithmic above; librosa's default and the HiFi-GAN / Tacotron 2 convention)."""
MEL_NORMS = ("slaney",)
"""Filter normalisations besides none: slaney divides each filter by its width (librosa's
default), so a band's value is a mean, not a sum, of magnitudes."""
MEL_LOGS = ("db01", "ln", "log10")
"""Log scalings of the mel magnitudes m (floored at ``floor`` first): db01, decibels mapped
so the floor is 0 and 0 dB is 1 (with the default floor 1e-5, (20 log10 m + 100) / 100:
wavedil's and r9y9's convention); ln, the natural log (HiFi-GAN, Tacotron 2); log10."""
PADDINGS = ("centre", "overlap")
"""Framing: centre pads n_fft / 2 on each side (frame n centred on sample n * hop, as
torch.stft(center=True) and Tacotron 2); overlap pads (n_fft - hop) / 2 on each side, the odd
sample (if any) on the right (frame n centred on sample n * hop + hop / 2, as HiFi-GAN). Both
give T // hop frames; the padding reflects the signal."""


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None, mel_scale: str = "htk",
                   norm: str | None = None) -> np.ndarray:
    """The filterbank of :class:`LogMel`, (n_mels, n_fft // 2 + 1) float64: torchaudio's
    melscale_fbanks (for slaney scale and norm the same as librosa.filters.mel)."""
    fb = AF.melscale_fbanks(n_fft // 2 + 1, f_min, f_max if f_max is not None else sample_rate / 2,
                            n_mels, sample_rate, norm=norm, mel_scale=mel_scale)  # (freqs, n_mels)
    return fb.numpy().T.astype(np.float64)


class LogMel(torch.nn.Module):
    """Log-mel features with one frame per ``hop`` samples: (..., T) -> (..., n_mels, T // hop).

    Magnitude STFT (Hann window of ``win_length`` samples, default n_fft, centred in n_fft),
    the mel filterbank (``mel_scale``, ``mel_norm``, f_min .. f_max), magnitudes floored at
    ``floor`` and scaled by ``log`` (:data:`MEL_LOGS`); frames as ``padding``
    (:data:`PADDINGS`). The defaults are wavedil's convention: HTK mel, no norm, centred frames
    (frame n conditions samples [n*hop, (n+1)*hop)), decibels scaled so -100 dB -> 0 and
    0 dB -> 1: inputs of order one train faster. Every setting is a data-section key
    (``wavedil.data.DataConfig``), stored in checkpoints.
    """

    def __init__(self, sample_rate: int, hop: int, n_mels: int = 80, n_fft: int | None = None,
                 f_min: float = 0.0, f_max: float | None = None, *,
                 win_length: int | None = None, mel_scale: str = "htk",
                 mel_norm: str | None = None, log: str = "db01", floor: float = 1e-5,
                 padding: str = "centre") -> None:
        super().__init__()
        n_fft = n_fft or 4 * hop
        win = win_length or n_fft
        for name, value, allowed in (("mel_scale", mel_scale, MEL_SCALES),
                                     ("mel_norm", mel_norm, (None, *MEL_NORMS)),
                                     ("log", log, MEL_LOGS), ("padding", padding, PADDINGS)):
            if value not in allowed:
                raise ValueError(f"LogMel: {name} must be one of {allowed}, got {value!r}")
        if not 1 <= win <= n_fft:
            raise ValueError(f"LogMel: win_length must be in [1, n_fft = {n_fft}], got {win}")
        if not 0 < floor < 1:
            raise ValueError(f"LogMel: floor must be in (0, 1), got {floor}")
        self.sample_rate, self.hop, self.n_mels, self.n_fft = sample_rate, hop, n_mels, n_fft
        self.f_min, self.f_max, self.win_length = f_min, f_max, win
        self.mel_scale, self.mel_norm, self.log, self.floor = mel_scale, mel_norm, log, floor
        self.padding = padding
        self.register_buffer("window", torch.hann_window(win), persistent=False)
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(
            sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, mel_norm)).float(),
            persistent=False)  # (n_mels, n_fft // 2 + 1)
        self._floor_db = 20.0 * math.log10(floor)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        lead, T = wave.shape[:-1], wave.shape[-1]
        frames = T // self.hop
        left, right = self.pads
        if T <= max(left, right):
            raise ValueError(f"LogMel: {T} samples are too few for the mel analysis (more than "
                             f"{max(left, right)} needed: n_fft {self.n_fft}, hop {self.hop})")
        spec = self.spectrum(wave.reshape(-1, T))[..., :frames]  # (B, bins, frames)
        return self.from_spectrum(spec).reshape(*lead, self.n_mels, frames)

    def from_spectrum(self, spec: torch.Tensor) -> torch.Tensor:
        """The features of STFT frames that :meth:`spectrum` made (complex or magnitudes):
        (B, bins, F) -> (B, n_mels, F)."""
        return self.compress(torch.matmul(self.fb, spec.abs()))

    def spectrum(self, wave: torch.Tensor) -> torch.Tensor:
        """The complex STFT under the features, with their window and framing: (B, T) ->
        (B, n_fft // 2 + 1, F). Frame n's window starts at n * hop - pads[0]; the first T //
        hop frames are the features' frames, the ones after them (over n_fft zeros past the
        reflected end) cover the last samples, so :meth:`overlap_add` inverts every sample."""
        T = wave.shape[-1]
        left, right = self.pads
        if T <= max(left, right):
            raise ValueError(f"LogMel: {T} samples are too few for the mel analysis (more than "
                             f"{max(left, right)} needed: n_fft {self.n_fft}, hop {self.hop})")
        x = wave[:, None]  # (B, 1, T)
        if left or right:
            x = torch.nn.functional.pad(x, (left, right), mode="reflect")
        x = torch.nn.functional.pad(x, (0, self.n_fft))  # (B, 1, left + T + right + n_fft)
        return torch.stft(x[:, 0], self.n_fft, self.hop, self.win_length,
                          self.window.to(wave.dtype), center=False, return_complex=True)

    def overlap_add(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """The inverse of :meth:`spectrum` (least squares, Griffin and Lim 1984): each frame's
        inverse FFT times the window, overlap-added and divided by the summed squared
        window; (B, bins, F) -> (B, length). Exact for a spectrum that :meth:`spectrum` made of
        ``length`` samples."""
        B, _, F = spec.shape
        left = self.pads[0]
        win = torch.zeros(self.n_fft, dtype=spec.real.dtype, device=spec.device)
        start = (self.n_fft - self.win_length) // 2  # torch.stft centres a shorter window
        win[start:start + self.win_length] = self.window.to(win)
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=1) * win[:, None]  # (B, n_fft, F)
        span = (F - 1) * self.hop + self.n_fft
        fold = lambda cols: torch.nn.functional.fold(  # noqa: E731  (B, n_fft, F) -> (B, span)
            cols, (1, span), (1, self.n_fft), stride=(1, self.hop))[:, 0, 0]
        wave = fold(frames)
        norm = fold((win ** 2)[None, :, None].expand(1, -1, F).to(frames.dtype))
        end = min(span, left + length)
        out = wave[:, left:end] / norm[:, left:end].clamp(min=1e-8)
        if out.shape[-1] < length:  # frames that stop short of the end leave the rest silent
            out = torch.nn.functional.pad(out, (0, length - out.shape[-1]))
        return out

    @property
    def pads(self) -> tuple[int, int]:
        """Samples of reflected padding (left, right): n_fft / 2 each side for centre;
        (n_fft - hop) / 2 each side for overlap, the odd sample on the right (T // hop frames
        either way). Frame n's window starts at n * hop - left."""
        if self.padding == "centre":
            return self.n_fft // 2, self.n_fft // 2
        left = (self.n_fft - self.hop) // 2
        return left, self.n_fft - self.hop - left

    def compress(self, mel: torch.Tensor) -> torch.Tensor:
        """Mel magnitudes -> features (the floor and the log scaling)."""
        m = mel.clamp(min=self.floor)
        if self.log == "ln":
            return torch.log(m)
        if self.log == "log10":
            return torch.log10(m)
        return (20.0 * torch.log10(m) - self._floor_db) / -self._floor_db

    @property
    def floor_feature(self) -> float:
        """The feature value of a band at the floor (digital silence): 0 for db01."""
        return {"ln": math.log(self.floor), "log10": math.log10(self.floor)}.get(self.log, 0.0)

    def log_magnitudes(self, features: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """The inverse of the scaling in natural-log units: features -> ln |mel|, for numpy
        arrays and (differentiably) for tensors alike."""
        if self.log == "ln":
            return features * 1.0
        if self.log == "log10":
            return features * math.log(10.0)
        return (features * -self._floor_db + self._floor_db) * (math.log(10.0) / 20.0)

    def magnitudes(self, features: np.ndarray) -> np.ndarray:
        """The inverse of the scaling: features -> mel magnitudes (float64)."""
        return np.exp(self.log_magnitudes(np.asarray(features, np.float64)))

    def filterbank(self) -> np.ndarray:
        """This extractor's filterbank, (n_mels, n_fft // 2 + 1) float64."""
        return mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.f_min, self.f_max,
                              self.mel_scale, self.mel_norm)

    def settings(self) -> dict:
        """Every setting, as the recipe keys and export metadata name them."""
        return {"sample_rate": self.sample_rate, "hop_length": self.hop, "n_mels": self.n_mels,
                "n_fft": self.n_fft, "win_length": self.win_length, "f_min": self.f_min,
                "f_max": self.f_max if self.f_max is not None else self.sample_rate / 2,
                "mel_scale": self.mel_scale, "mel_norm": self.mel_norm, "mel_log": self.log,
                "mel_floor": self.floor, "mel_padding": self.padding}
