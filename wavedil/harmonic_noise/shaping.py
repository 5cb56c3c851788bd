"""The harmonic-plus-noise vocoder's second stage: a dilated stack over the frames that reads
the first stage's own spectrum beside the frames and reshapes it, bin by bin, in the STFT
domain.

    y1  = the first stage's waveform (oscillators and shaped noise)            (B, T)
    X   = STFT(y1), the features' own window and framing (LogMel.spectrum)    (B, bins, F)
    own = the features of y1 (the filterbank on |X|, the features' scaling)    (B, n_mels, N)
    [frames ; own] --1x1--> gated residual blocks over frames --skip sum--> ReLU 1x1 ReLU 1x1
        + a linear map of (ln mel asked for - ln mel made), per frame
        --> g (B, bins, N): a log gain per bin and frame, G tanh(. / G) with G = ln 100
            (within +-40 dB; the output layer and the linear map start at zero, so the stage
            starts as the identity)
    y   = inverse STFT of X exp(g)   (LogMel.overlap_add; frames past N take frame N - 1's gains)

Why a second stage: the first puts its harmonics at the frames' f0 with amplitudes read from an
envelope interpolated between mel bands, and what it gets wrong (a harmonic that lands in the
band beside the original's, an envelope smoother than the voice's) it cannot see. This stage
sees what came out beside what was asked for and corrects each bin's magnitude, keeping the
phases the oscillators made, whose coherence from frame to frame is what a magnitude-only
network (Griffin-Lim's problem) lacks. It is trained with the first stage, end to end, on the
same spectral loss, and runs once. Mel-consistent refinement (``wavedil.dsp.refine``) imposes
the mel on a signal by a fixed rule, iterated; this stage learns its correction and applies it
in one pass, and ``wavedil evaluate --refine 0`` scores the network with it.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..dsp.audio import LogMel
from ..nn.blocks import GatedResidualBlock

MAX_LOG_GAIN = math.log(100.0)
"""The largest correction, in natural-log units (+-40 dB)."""


class SpectralShaper(nn.Module):
    """(frames (B, C, N), first-stage waveform (B, N * hop)) -> reshaped waveform (B, N * hop)."""

    def __init__(self, mel: LogMel, frame_channels: int, dilations: list[int], kernel_size: int,
                 channels: int) -> None:
        super().__init__()
        self.mel = mel  # the features' analysis: its STFT, filterbank and scaling
        bins = mel.n_fft // 2 + 1
        self.inp = nn.Conv1d(frame_channels + mel.n_mels, channels, 1)
        self.blocks = nn.ModuleList(
            GatedResidualBlock(channels, 2 * channels, channels, kernel_size, d, causal=False,
                               residual=i < len(dilations) - 1)
            for i, d in enumerate(dilations))
        self.post = nn.Conv1d(channels, channels, 1)
        self.out = nn.Conv1d(channels, bins, 1)
        # how far each band is from what was asked, straight to the bins: a correction the
        # stack would otherwise have to find through its gates
        self.direct = nn.Conv1d(mel.n_mels, bins, 1, bias=False)
        with torch.no_grad():  # the identity at the start: the first stage's output unchanged
            self.out.weight.zero_()
            self.out.bias.zero_()
            self.direct.weight.zero_()

    def forward(self, frames: torch.Tensor, wave: torch.Tensor) -> torch.Tensor:
        B, _, N = frames.shape
        T = wave.shape[-1]
        spec = self.mel.spectrum(wave)  # (B, bins, F), F > N: the last frames cover the end
        with torch.no_grad():  # what came out is read as data; the gains carry the gradient
            own = self.mel.from_spectrum(spec[..., :N])  # (B, n_mels, N)
        h = self.inp(torch.cat([frames, own.to(frames.dtype)], dim=1))  # (B, channels, N)
        skips = 0
        for block in self.blocks:
            h, s = block(h)
            skips = skips + s
        miss = self.mel.log_magnitudes(frames[:, :self.mel.n_mels]) - self.mel.log_magnitudes(own)
        g = self.out(F.relu(self.post(F.relu(skips)))) + self.direct(miss)  # (B, bins, N)
        g = MAX_LOG_GAIN * torch.tanh(g / MAX_LOG_GAIN)
        g = torch.cat([g, g[..., -1:].expand(-1, -1, spec.shape[-1] - N)], dim=-1)  # (B, bins, F)
        return self.mel.overlap_add(spec * torch.exp(g), T)
