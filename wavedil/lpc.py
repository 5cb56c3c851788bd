"""Linear prediction from a mel spectrogram, as LPCNet does: the envelope a vocoder is given.

LPCNet (Valin and Skoglund 2019) and ExcitNet derive the short-term predictor from the
conditioning features themselves, so a mel from a text-to-speech front end is enough:

    log-mel frame --interpolate over frequency--> power spectrum P(w)
                  --times |1 - pre e^{-jw}|^2----> spectrum of the pre-emphasised signal
                  --inverse FFT------------------> autocorrelation r[0..p]
                  --lag window, noise floor------> regularised r
                  --Levinson-Durbin--------------> a[1..p], A(z) = 1 + sum_k a_k z^-k

The prediction of sample t from the samples before it is ``p_t = -sum_k a_k s_{t-k}``
(:func:`lp_predict`). The regularisation (a Gaussian lag window of ``bandwidth`` Hz and a
white-noise floor of ``noise_floor`` times r[0]) keeps every frame's filter stable, silent and
clipped frames included: Levinson-Durbin on a positive-definite autocorrelation gives
reflection coefficients of magnitude below one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .audio import LogMel, mel_filterbank


def levinson(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Levinson-Durbin on autocorrelations r (N, p + 1) -> (a (N, p), reflection k (N, p)).

    Solves the normal equations of order p for every row; ``a`` are the coefficients of
    A(z) = 1 + sum a_k z^-k. Rows must have r[:, 0] > 0.
    """
    r = np.asarray(r, np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError(f"levinson: expected autocorrelations of shape (N, p + 1 >= 2), got {r.shape}")
    if not (r[:, 0] > 0).all():
        raise ValueError("levinson: r[0] must be > 0 in every row (regularise silent frames)")
    N, p = r.shape[0], r.shape[1] - 1
    a = np.zeros((N, p))
    ks = np.zeros((N, p))
    err = r[:, 0].copy()
    for i in range(p):
        acc = r[:, i + 1] + (a[:, :i] * r[:, i:0:-1]).sum(1)
        k = -acc / err
        a[:, :i] = a[:, :i] + k[:, None] * a[:, i - 1::-1] if i else a[:, :i]
        a[:, i] = k
        ks[:, i] = k
        err = err * (1.0 - k * k)
    return a, ks


class MelLPC:
    """LP coefficients per frame from wavedil's log-mel frames (see :class:`LogMel`).

    Args:
        sample_rate, n_fft, n_mels, f_min, f_max: the mel settings the frames were made with.
        order: predictor order (16 at 16 kHz, as LPCNet).
        pre_emphasis: the coefficient of the pre-emphasis filter 1 - pre z^-1 applied to the
            signal the predictor runs on (0 for none).
        bandwidth: Gaussian lag window, in Hz.
        noise_floor: white noise added to r[0], relative.
    """

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, order: int = 16,
                 pre_emphasis: float = 0.85, f_min: float = 0.0, f_max: float | None = None,
                 bandwidth: float = 60.0, noise_floor: float = 1e-4) -> None:
        if not 1 <= order < n_fft // 2:
            raise ValueError(f"MelLPC: order must be in [1, n_fft // 2), got {order}")
        if not 0.0 <= pre_emphasis < 1.0:
            raise ValueError(f"MelLPC: pre_emphasis must be in [0, 1), got {pre_emphasis}")
        self.order, self.pre_emphasis, self.n_mels = order, pre_emphasis, n_mels
        n_freq = n_fft // 2 + 1
        fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)  # (M, F)
        self.band_sum = np.maximum(fb.sum(1), 1e-8)  # (M,)
        freqs = np.linspace(0.0, sample_rate / 2, n_freq)
        self.freqs = freqs
        self.centres = fb @ freqs / self.band_sum  # (M,)
        w = 2 * math.pi * freqs / sample_rate
        self.emphasis = np.abs(1.0 - pre_emphasis * np.exp(-1j * w)) ** 2  # (F,)
        lags = np.arange(order + 1)
        self.window = np.exp(-0.5 * (2 * math.pi * bandwidth * lags / sample_rate) ** 2)
        self.noise_floor = noise_floor

    def __call__(self, mel: torch.Tensor | np.ndarray) -> np.ndarray:
        """Scaled log-mel frames (n_mels, N) in [0, 1] -> LP coefficients (N, order), float32."""
        mel = np.asarray(mel.detach().cpu() if isinstance(mel, torch.Tensor) else mel, np.float64)
        if mel.ndim != 2 or mel.shape[0] != self.n_mels:
            raise ValueError(f"MelLPC: expected frames of shape ({self.n_mels}, N), got {mel.shape}")
        if not np.isfinite(mel).all():
            raise ValueError("MelLPC: frames hold NaN or infinite values")
        amp = LogMel.magnitudes(mel) / self.band_sum[:, None]  # mean magnitude per band (M, N)
        log_power = np.log(np.maximum(amp, 1e-6) ** 2)
        # linear in log power between band centres, flat beyond the outer ones
        power = np.exp(np.stack([np.interp(self.freqs, self.centres, col) for col in log_power.T]))
        r = np.fft.irfft(power * self.emphasis, axis=1)[:, : self.order + 1]  # (N, p + 1)
        r = r * self.window
        r[:, 0] = r[:, 0] * (1.0 + self.noise_floor) + 1e-12
        a, _ = levinson(r)
        return a.astype(np.float32)


def lp_predict(signal: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Prediction of every sample from the ones before it: p_t = -sum_k a_{t,k} s_{t-k}.

    signal (B, T); coeffs (B, T, p): the predictor in force at each sample (zeros before the
    start) -> (B, T). p_t never reads s_t or later samples.
    """
    if signal.dim() != 2 or coeffs.dim() != 3 or coeffs.shape[:2] != signal.shape:
        raise ValueError(f"lp_predict: expected signal (B, T) and coeffs (B, T, p), got "
                         f"{tuple(signal.shape)} and {tuple(coeffs.shape)}")
    out = torch.zeros_like(signal)
    for k in range(1, min(coeffs.shape[2], signal.shape[1] - 1) + 1):
        out[:, k:] -= coeffs[:, k:, k - 1] * signal[:, :-k]
    return out


def pre_emphasis(x: torch.Tensor, coeff: float) -> torch.Tensor:
    """y_t = x_t - coeff x_{t-1} along the last axis (x_{-1} = 0)."""
    return torch.cat([x[..., :1], x[..., 1:] - coeff * x[..., :-1]], -1) if coeff else x


def de_emphasis(y: torch.Tensor, coeff: float, last: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Inverse of :func:`pre_emphasis`: x_t = y_t + coeff x_{t-1}; ``last`` is x_{-1} (for
    streaming, the previous chunk's last output)."""
    if not coeff:
        return y
    y64 = y.double()
    n = y.shape[-1]
    powers = coeff ** torch.arange(n, dtype=torch.float64, device=y.device)  # (n,)
    # x_t = sum_{j<=t} coeff^(t-j) y_j + coeff^(t+1) last, as a scaled cumulative sum; split
    # into blocks so coeff^-j stays well inside float64's range
    out = torch.empty_like(y64)
    carry = torch.as_tensor(last, dtype=torch.float64, device=y.device).expand(y.shape[:-1]).clone()
    block = max(1, int(200 / max(-math.log10(coeff), 1e-3)))
    for s in range(0, n, block):
        seg = y64[..., s:s + block]
        m = seg.shape[-1]
        p = powers[:m]
        acc = torch.cumsum(seg / p, -1) * p + carry[..., None] * coeff * p
        out[..., s:s + m] = acc
        carry = acc[..., -1]
    return out.to(y.dtype)
