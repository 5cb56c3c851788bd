"""A spectral envelope read off log-mel frames: what a frame's mel bands say the magnitude
spectrum is at any frequency, for the vocoders that start from it.

    band m's magnitude M_m = sum_k fb[m, k] |X_k|
    a flat spectrum E gives M_m = E w_m, with w_m = sum_k fb[m, k] (the band's width)
    -> ln E at band m's centre c_m = ln M_m - ln w_m
    ln E(f) between two centres: linear in f; beyond the first and last: held

The centre of a band is its filter's centroid. A harmonic signal and white noise put the same
energy into a band in different ways; the vocoders scale this envelope to each (the
harmonic-plus-noise model's ``2 f0 / rate`` and ``sqrt(3 win / 8)``) and learn the rest.
"""

from __future__ import annotations

import torch
from torch import nn

from .audio import LogMel


class MelEnvelope(nn.Module):
    """(features (B, n_mels, N), frequencies (B, F, N) Hz) -> ln E (B, F, N) of each frame's
    envelope, in the analysis ``mel`` that made the features (its filterbank and scaling)."""

    def __init__(self, mel: LogMel) -> None:
        super().__init__()
        self.mel = mel
        fb = torch.from_numpy(mel.filterbank()).float()  # (n_mels, bins)
        bins = torch.linspace(0, mel.sample_rate / 2, fb.shape[1])
        widths = fb.sum(dim=1).clamp(min=1e-3)  # (n_mels,) a flat spectrum's band sum / its level
        centres = (fb * bins).sum(dim=1) / fb.sum(dim=1).clamp(min=1e-9)
        # fixed by the analysis, so not part of any model's weights
        self.register_buffer("centres", centres, persistent=False)
        self.register_buffer("log_widths", torch.log(widths), persistent=False)

    def forward(self, features: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        level = self.mel.log_magnitudes(features) - self.log_widths[:, None]  # ln E at the centres
        c = self.centres
        if c.numel() == 1:  # one band (a loudness contour): a flat envelope
            return level.expand(-1, freqs.shape[1], -1)
        hi = torch.searchsorted(c, freqs.contiguous()).clamp(1, c.numel() - 1)  # (B, F, N)
        lo = hi - 1
        w = ((freqs - c[lo]) / (c[hi] - c[lo]).clamp(min=1e-6)).clamp(0.0, 1.0)
        return torch.gather(level, 1, lo) * (1 - w) + torch.gather(level, 1, hi) * w
