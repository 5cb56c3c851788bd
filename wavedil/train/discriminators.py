"""The discriminators of adversarial vocoder training (``wavedil.train.adversarial``): each maps
a batch of waveforms to scores and the feature maps that feature matching compares.

    PeriodDiscriminator(p)       HiFi-GAN's multi-period discriminator (Kong et al. 2020) in 1D
        (B, T) -> reflect-pad to a multiple of p -> (B p, 1, T / p): every p-th sample, each
        phase a sequence of its own -> conv k5 s3 (c) -> k5 s3 (2c) -> k5 s3 (4c) -> k5 (4c)
        -> k3 (1) scores, LeakyReLU 0.1 between; the 2D convs with (k, 1) kernels of the paper
        are these 1D convs over the phases
    SpectrogramDiscriminator(n)  UnivNet's multi-resolution idea (Jang et al. 2021) as a dilated
        stack over frames: ln |STFT| (n, hop n / 4) (B, n / 2 + 1, F) --1x1--> c channels -->
        non-causal gated residual blocks (the package's own, dilations 1, 2, 4, 8) --skip sum,
        LeakyReLU, 1x1--> one score per frame; frequency is the channels, so a pass costs a
        frame-rate stack, not a 2D image network
    Discriminators               one of each per period and per FFT size

Every convolution has weight normalisation, as in both papers. A discriminator is built from
the adversarial section of a recipe and lives only in training and its checkpoints: loading a
model for generation never imports this module.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from ..nn.blocks import GatedResidualBlock

SLOPE = 0.1
"""LeakyReLU slope between the layers (HiFi-GAN's)."""

Scored = tuple[torch.Tensor, list[torch.Tensor]]
"""A discriminator's output: scores (B, ...) and its feature maps, first layer first."""


class PeriodDiscriminator(nn.Module):
    """Scores every ``period``-th sample of a waveform, one sequence per phase."""

    def __init__(self, period: int, channels: int) -> None:
        super().__init__()
        self.period = period
        widths = [1, channels, 2 * channels, 4 * channels, 4 * channels]
        strides = [3, 3, 3, 1]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(a, b, 5, stride=s, padding=2))
            for a, b, s in zip(widths, widths[1:], strides))
        self.out = weight_norm(nn.Conv1d(widths[-1], 1, 3, padding=1))

    def forward(self, wave: torch.Tensor) -> Scored:
        B, T = wave.shape
        p = self.period
        pad = -T % p
        if pad:
            wave = F.pad(wave[:, None], (0, pad), mode="reflect")[:, 0]
        x = wave.reshape(B, -1, p).transpose(1, 2).reshape(B * p, 1, -1)  # (B p, 1, T / p)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
            feats.append(x)
        x = self.out(x)
        feats.append(x)
        return x.reshape(B, -1), feats


class SpectrogramDiscriminator(nn.Module):
    """Scores each frame of a waveform's log-magnitude STFT with a dilated stack over frames."""

    def __init__(self, n_fft: int, channels: int, dilations: tuple[int, ...] = (1, 2, 4, 8)
                 ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.inp = weight_norm(nn.Conv1d(n_fft // 2 + 1, channels, 1))
        self.blocks = nn.ModuleList(
            GatedResidualBlock(channels, 2 * channels, channels, 3, d, causal=False,
                               weight_norm=True, residual=i < len(dilations) - 1)
            for i, d in enumerate(dilations))
        self.out = weight_norm(nn.Conv1d(channels, 1, 3, padding=1))

    def forward(self, wave: torch.Tensor) -> Scored:
        spec = torch.stft(wave, self.n_fft, self.n_fft // 4, window=self.window.to(wave.dtype),
                          center=True, return_complex=True).abs()  # (B, bins, F)
        h = F.leaky_relu(self.inp(torch.log(spec + 1e-5)), SLOPE)
        feats, skips = [h], 0
        for block in self.blocks:
            h, s = block(h)
            skips = skips + s
            feats.append(s)
        x = self.out(F.leaky_relu(skips, SLOPE))  # (B, 1, F)
        feats.append(x)
        return x[:, 0], feats


class Discriminators(nn.Module):
    """A period discriminator per period and a spectrogram discriminator per FFT size:
    (B, T) -> one :data:`Scored` per discriminator."""

    def __init__(self, periods: list[int], fft_sizes: list[int], channels: int) -> None:
        super().__init__()
        self.members = nn.ModuleList(
            [PeriodDiscriminator(p, channels) for p in periods]
            + [SpectrogramDiscriminator(n, channels) for n in fft_sizes])

    def forward(self, wave: torch.Tensor) -> list[Scored]:
        return [d(wave) for d in self.members]
