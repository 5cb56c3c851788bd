"""Multi-resolution STFT loss (Yamamoto et al. 2020; Engel et al. 2020): how far a waveform's
magnitude spectra are from a reference's at several time-frequency resolutions.

    for each FFT size n (hop n / 4, Hann):
        S, S_hat = |STFT(ref)|, |STFT(est)|
        convergence = ||S - S_hat||_F / ||S||_F
        log term    = mean |log(S + eps) - log(S_hat + eps)|
    loss = mean over sizes of (convergence + log term)

The loss ignores phase, which is what lets a non-autoregressive vocoder learn: the original's
phases are not a function of the mel frames, its magnitudes nearly are.
"""

from __future__ import annotations

import torch

FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
"""The resolutions: 128 ms down to 4 ms windows at 16 kHz."""
EPS = 1e-5
"""Magnitude floor inside the logarithm (-100 dB, the floor of wavedil's log-mel)."""


def stft_magnitude(wave: torch.Tensor, n_fft: int) -> torch.Tensor:
    """|STFT| with a Hann window and hop n_fft / 4: (B, T) -> (B, n_fft / 2 + 1, frames)."""
    window = torch.hann_window(n_fft, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(wave, n_fft, n_fft // 4, window=window, center=True, return_complex=True)
    return spec.abs()


def multi_resolution_stft_loss(est: torch.Tensor, ref: torch.Tensor,
                               sizes: tuple[int, ...] = FFT_SIZES) -> torch.Tensor:
    """The loss of ``est`` against ``ref``, both (B, T): a scalar, 0 when they are equal."""
    if est.shape != ref.shape or est.dim() != 2:
        raise ValueError(f"multi_resolution_stft_loss: expected two (B, T) tensors of one shape, "
                         f"got {tuple(est.shape)} and {tuple(ref.shape)}")
    total = est.new_zeros(())
    for n in sizes:
        s, s_hat = stft_magnitude(ref, n), stft_magnitude(est, n)
        convergence = torch.linalg.norm(s - s_hat) / torch.linalg.norm(s).clamp(min=EPS)
        log_term = (torch.log(s + EPS) - torch.log(s_hat + EPS)).abs().mean()
        total = total + convergence + log_term
    return total / len(sizes)
