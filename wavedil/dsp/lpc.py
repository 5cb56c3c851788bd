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

from .audio import LogMel


def levinson(r: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Levinson-Durbin on autocorrelations r (..., p + 1) -> (a (..., p), reflection k (..., p)),
    float64 tensors.

    Solves the normal equations of order p for every row; ``a`` are the coefficients of
    A(z) = 1 + sum a_k z^-k. Rows must have r[..., 0] > 0.
    """
    r = torch.as_tensor(r, dtype=torch.float64)
    if r.dim() < 1 or r.shape[-1] < 2:
        raise ValueError(f"levinson: expected autocorrelations of shape (..., p + 1 >= 2), got "
                         f"{tuple(r.shape)}")
    if not bool((r[..., 0] > 0).all()):
        raise ValueError("levinson: r[0] must be > 0 in every row (regularise silent frames)")
    p = r.shape[-1] - 1
    a = r.new_zeros(*r.shape[:-1], p)
    ks = r.new_zeros(*r.shape[:-1], p)
    err = r[..., 0].clone()
    for i in range(p):
        acc = r[..., i + 1] + (a[..., :i] * r[..., 1:i + 1].flip(-1)).sum(-1)
        k = -acc / err
        if i:
            a[..., :i] = a[..., :i] + k[..., None] * a[..., :i].flip(-1)
        a[..., i] = k
        ks[..., i] = k
        err = err * (1.0 - k * k)
    return a, ks


class MelLPC:
    """LP coefficients per frame from wavedil's log-mel frames (see :class:`LogMel`).

    Every step before Levinson-Durbin is linear or pointwise, so it is two fixed matrices: the
    interpolation of log power from band centres to FFT bins (linear between centres, flat
    beyond the outer ones) and the inverse real FFT's first p + 1 lags. The same code serves
    data preparation, the model's forward and generation, on any device.

    Args:
        sample_rate, n_fft, n_mels, f_min, f_max: the mel settings the frames were made with.
        mel: the :class:`LogMel` that made the frames (its filterbank and log scaling; default:
            wavedil's convention with the settings above).
        order: predictor order (16 at 16 kHz, as LPCNet).
        pre_emphasis: the coefficient of the pre-emphasis filter 1 - pre z^-1 applied to the
            signal the predictor runs on (0 for none).
        bandwidth: Gaussian lag window, in Hz.
        noise_floor: white noise added to r[0], relative.
    """

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, order: int = 16,
                 pre_emphasis: float = 0.85, f_min: float = 0.0, f_max: float | None = None,
                 bandwidth: float = 60.0, noise_floor: float = 1e-4,
                 mel: LogMel | None = None) -> None:
        if not 1 <= order < n_fft // 2:
            raise ValueError(f"MelLPC: order must be in [1, n_fft // 2), got {order}")
        if not 0.0 <= pre_emphasis < 1.0:
            raise ValueError(f"MelLPC: pre_emphasis must be in [0, 1), got {pre_emphasis}")
        self.order, self.pre_emphasis, self.n_mels = order, pre_emphasis, n_mels
        n_freq = n_fft // 2 + 1
        # the extractor the frames came from: its filterbank and log scaling are inverted
        self.mel = mel or LogMel(sample_rate, max(1, n_fft // 4), n_mels, n_fft, f_min, f_max)
        if (self.mel.n_fft, self.mel.n_mels, self.mel.sample_rate) != (n_fft, n_mels, sample_rate):
            raise ValueError(f"MelLPC: mel has n_fft {self.mel.n_fft}, {self.mel.n_mels} bands at "
                             f"{self.mel.sample_rate} Hz; expected {n_fft}, {n_mels} at {sample_rate}")
        fb = self.mel.filterbank()  # (M, F)
        band_sum = np.maximum(fb.sum(1), 1e-8)  # (M,)
        freqs = np.linspace(0.0, sample_rate / 2, n_freq)  # (F,)
        centres = fb @ freqs / band_sum  # (M,)
        # np.interp is linear in the values: column m interpolates the m-th unit vector
        interp = np.stack([np.interp(freqs, centres, e) for e in np.eye(n_mels)], 1)  # (F, M)
        w = 2 * math.pi * freqs / sample_rate
        emphasis = np.abs(1.0 - pre_emphasis * np.exp(-1j * w)) ** 2  # (F,)
        lags = np.arange(order + 1)
        # irfft's first p + 1 lags: r_l = (P_0 + 2 sum_f P_f cos(2 pi f l / n) + P_{n/2} cos(pi l)) / n
        weight = np.full(n_freq, 2.0)
        weight[0] = 1.0
        if n_fft % 2 == 0:
            weight[-1] = 1.0
        cosines = np.cos(2 * math.pi * np.arange(n_freq)[:, None] * lags[None] / n_fft)  # (F, p+1)
        window = np.exp(-0.5 * (2 * math.pi * bandwidth * lags / sample_rate) ** 2)  # (p + 1,)
        self.log_band_sum = torch.from_numpy(np.log(band_sum))  # (M,)
        self.interp = torch.from_numpy(interp)  # (F, M)
        self.to_lags = torch.from_numpy((emphasis * weight)[:, None] * cosines / n_fft * window)  # (F, p+1)
        self.noise_floor = noise_floor

    def coefficients(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel frames (..., n_mels, N) as the extractor made them -> LP coefficients (..., N, order),
        float32 on the frames' device."""
        if mel.dim() < 2 or mel.shape[-2] != self.n_mels:
            raise ValueError(f"MelLPC: expected frames of shape (..., {self.n_mels}, N), got "
                             f"{tuple(mel.shape)}")
        x = mel.detach().to(torch.float64).transpose(-1, -2)  # (..., N, M)
        if not bool(torch.isfinite(x).all()):
            raise ValueError("MelLPC: frames hold NaN or infinite values")
        dev = x.device
        # log of the mean magnitude per band, squared: the features' scaling undone in the log domain
        log_amp = self.mel.log_magnitudes(x)
        log_power = 2.0 * torch.clamp(log_amp - self.log_band_sum.to(dev), min=math.log(1e-6))
        power = torch.exp(log_power @ self.interp.to(dev).T)  # (..., N, F)
        r = power @ self.to_lags.to(dev)  # (..., N, p + 1), lag-windowed
        r[..., 0] = r[..., 0] * (1.0 + self.noise_floor) + 1e-12
        a, _ = levinson(r)
        return a.to(torch.float32)

    def __call__(self, mel: torch.Tensor | np.ndarray) -> np.ndarray:
        """Log-mel frames (n_mels, N) -> LP coefficients (N, order), float32."""
        mel = torch.as_tensor(np.asarray(mel) if not isinstance(mel, torch.Tensor) else mel)
        if mel.dim() != 2:
            raise ValueError(f"MelLPC: expected frames of shape ({self.n_mels}, N), got "
                             f"{tuple(mel.shape)}")
        return self.coefficients(mel).cpu().numpy()


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
