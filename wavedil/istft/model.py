"""A frame-rate vocoder that predicts each STFT frame, magnitude and phase, and inverts it
(the layout of Vocos, Siuzdak 2023, and iSTFTNet, Kaneko et al. 2022, with a dilated stack
over the frames instead of their ConvNeXt or upsampling blocks).

    frames (B, mel + 2, N), the last frame repeated to the F STFT frames that cover N * hop
        --1x1--> gated residual blocks over frames (dilated, non-causal) --skip sum-->
        ReLU 1x1 ReLU 1x1 --> per bin j and frame n: g (log gain), (a, b) (a rotation),
                              v (voicing, sigmoid)
    E_j = E(f_j) exp(G tanh(g / G))        E: the envelope the mel bands give (dsp.envelope),
                                           G = ln 1000 (the correction within +-60 dB)
    harmonic part   H_j e^{i psi_j}        bin j's nearest harmonic k = round(f_j / f0) at the
                                           frames' f0: H_j its peak's shape in the analysis
                                           window, scaled to the envelope's energy, psi_j its
                                           phase at the frame's centre, 2 pi k Phi(n) - pi j
                                           (Phi: the fundamental's phase in cycles)
    noise part      e^{i rho_j}            rho_j uniform random
    X_j = E_j (a + i b) / |a + i b| (v H_j e^{i psi_j} + (1 - v) e^{i rho_j})
    waveform = the inverse STFT of X in the features' own analysis (LogMel.overlap_add)

The untrained model is a plain harmonic-plus-noise vocoder of its frames written in the STFT
domain (the harmonic part's comb at the frames' f0, the noise part flat, both at the envelope's
energy); the network learns the corrections. The comb and its phases are what a stack over
frames cannot make alone: a comb that follows any f0 across 513 bins is a hard thing for one
linear output layer to draw, and with the features' framing (hop n_fft / 4) a steady
harmonic's phase turns by 2 pi f hop / rate from one frame to the next, while a stack's output
for steady input is steady. Given both by the f0, the network learns what is left: each bin's
gain, the harmonics' relative phases, how voiced each bin is. ``phase_reference: none`` leaves
it all to the network (Vocos' layout: X_j = E_j (a + i b) / |a + i b|), which relies on
adversarial training to get there.
Trained on the multi-resolution STFT
loss and the log-mel term like the harmonic-plus-noise model, and on the phase terms of
``wavedil.train.phase`` where ``train.phase_weight`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import Config
from ..dsp.envelope import MelEnvelope
from ..dsp.f0 import hz_of_features
from ..dsp.mel import MelF0Frames
from ..nn.blocks import GatedResidualBlock
from ..nn.receptive import receptive_field

MAX_LOG_GAIN = math.log(1000.0)
"""The largest correction of the envelope, in natural-log units (+-60 dB)."""
PHASE_REFERENCES = ("harmonic", "none")


@dataclass
class IstftConfig(Config, MelF0Frames):
    """Everything needed to rebuild an inverse-STFT vocoder; stored in its checkpoints."""

    kind: str = "istft"
    """The model family (``wavedil.families``): istft, this vocoder."""
    local_channels: int = 82
    """Frame features: the mel bands, then log2(f0 / 150 Hz) and voicing (``data.f0: true``)."""
    hop_length: int = 256
    """Samples per frame (the STFT's hop)."""
    sample_rate: int = 16000
    """Samples per second (recipes set it from data.sample_rate)."""
    dilations: list[int] | None = None
    """Dilations (in frames) of the residual blocks; None: [1, 2, 4, 8, 1, 2, 4, 8]."""
    kernel_size: int = 3
    """Taps of each dilated convolution over frames."""
    residual_channels: int = 128
    """Channels of the residual stream."""
    gate_channels: int = 256
    """Output channels of each dilated conv, halved by the tanh/sigmoid gate."""
    skip_channels: int = 256
    """Channels of the skip connections and the output network."""
    phase_reference: str = "harmonic"
    """harmonic: each bin is a learnt gain and rotation of a harmonic comb at the frames' f0
    (its nearest harmonic's peak and phase) plus random-phase noise, mixed as the network's
    voicing says; none: the gain and rotation alone (Vocos' layout)."""
    n_fft: int | None = None
    """FFT size of the mel analysis and of the inverse STFT (recipes set it from data);
    None: 4 * hop_length."""

    def __post_init__(self) -> None:
        need = self.need
        need(self.kind == "istft", "kind", "istft for IstftConfig")
        if self.dilations is None:
            self.dilations = [1, 2, 4, 8, 1, 2, 4, 8]
        self.dilations = [int(d) for d in self.dilations]
        need(len(self.dilations) > 0 and all(d >= 1 for d in self.dilations), "dilations",
             "a non-empty list of integers >= 1")
        for name in ("kernel_size", "residual_channels", "skip_channels", "hop_length"):
            need(getattr(self, name) >= 1, name, ">= 1")
        need(self.gate_channels >= 2 and self.gate_channels % 2 == 0, "gate_channels",
             "even and >= 2")
        need(self.local_channels >= 3, "local_channels",
             ">= 3 (mel bands, then the f0 pair of data.f0: true)")
        need(self.sample_rate >= 1000, "sample_rate", ">= 1000")
        need(self.phase_reference in PHASE_REFERENCES, "phase_reference",
             f"one of {', '.join(PHASE_REFERENCES)}")
        need(self.n_fft is None or self.n_fft >= 2 * self.mel_channels - 2, "n_fft",
             f"null or >= 2 (mel bands - 1) = {2 * self.mel_channels - 2}")
        need(self.fft_size >= self.hop_length, "n_fft", f">= hop_length ({self.hop_length})")
        self.check_mel(self.sample_rate, self.fft_size)

    @property
    def receptive_field_frames(self) -> int:
        """Frames one STFT frame's values depend on (past and future ones): the blocks'."""
        return receptive_field(self.kernel_size, self.dilations)

    @property
    def receptive_field(self) -> int:
        """Samples one output sample depends on, a bound: the frames of its STFT frames'
        values and the STFT frames that overlap it."""
        span = -(-self.fft_size // self.hop_length)  # frames one window overlaps
        return (self.receptive_field_frames + span) * self.hop_length


class IstftNet(nn.Module):
    """Frames (mel bands + log-f0 + voicing) -> waveform, (B, C, N) -> (B, N * hop)."""

    def __init__(self, config: IstftConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or IstftConfig()
        self.mel = c.log_mel()  # the features' analysis: the STFT the model writes
        self.envelope = MelEnvelope(self.mel)
        self.bins = bins = c.fft_size // 2 + 1
        self.inp = nn.Conv1d(c.local_channels, c.residual_channels, 1)
        self.blocks = nn.ModuleList(
            GatedResidualBlock(c.residual_channels, c.gate_channels, c.skip_channels,
                               c.kernel_size, d, causal=False, residual=i < len(c.dilations) - 1)
            for i, d in enumerate(c.dilations))
        self.post = nn.Conv1d(c.skip_channels, c.skip_channels, 1)
        outputs = 3 * bins if c.phase_reference == "none" else 4 * bins
        self.out = nn.Conv1d(c.skip_channels, outputs, 1)  # gain | rotation a, b | voicing
        with torch.no_grad():  # start as the plain harmonic-plus-noise vocoder of the envelope
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()
            self.out.bias[bins:2 * bins] = 1.0  # rotation 1 + 0i
            self.out.bias[3 * bins:] = math.log(2.0)  # voicing 2/3 (the harmonic-plus-noise
            # model's starting gains, 0.6 and 0.3)
        freqs = torch.arange(bins, dtype=torch.float64) * (c.sample_rate / c.fft_size)
        self.register_buffer("freqs", freqs, persistent=False)  # (bins,) Hz, float64

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def stft_frames(self, n_frames: int) -> int:
        """STFT frames of the features' analysis over ``n_frames * hop`` samples (those
        :meth:`LogMel.spectrum` makes), so that the inverse covers every sample."""
        left, right = self.mel.pads
        return (left + n_frames * self.config.hop_length + right) // self.config.hop_length + 1

    def fundamental_phase(self, f0: torch.Tensor) -> torch.Tensor:
        """The fundamental's phase in cycles at each STFT frame's centre, from 0 at the first
        sample, (B, F) Hz -> (B, F) float64: f0 integrated between frame centres (trapezoids;
        the first frame's centre sits at sample pads-left + n_fft / 2 - left of the window)."""
        c = self.config
        f = f0.double()
        steps = (f[:, 1:] + f[:, :-1]) * (0.5 * c.hop_length / c.sample_rate)  # (B, F - 1)
        centre0 = c.fft_size // 2 - self.mel.pads[0]  # frame 0's centre, in samples
        start = f[:, :1] * (centre0 / c.sample_rate)
        return torch.cat([start, start + torch.cumsum(steps, dim=-1)], dim=-1)

    def harmonics(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The harmonic comb at the frames' f0, relative to the envelope, and its phases:
        (B, C, F) frames -> magnitudes (B, bins, F) and unit phasors (B, bins, F) (complex).

        Bin j belongs to its nearest harmonic k = round(f_j / f0) >= 1, at offset
        d = (f_j - k f0) win / rate in the window's bins; a sinusoid of amplitude a shows
        (a win / 4) |sinc d + (sinc (d - 1) + sinc (d + 1)) / 2| there (a Hann window), and
        a = E 2 f0 / rate puts the same energy into every mel band as a flat spectrum E does
        (the harmonic-plus-noise model's scaling), so the comb is
        (win f0 / (2 rate)) |sinc d + ...|. The phase is the harmonic's at the frame's centre,
        2 pi k Phi(n), less pi j (a frame's DFT starts at its window's first sample)."""
        c = self.config
        f0 = hz_of_features(frames)[0].double().clamp(min=20.0)  # (B, F), unvoiced filled
        phi = self.fundamental_phase(f0)  # (B, F) cycles
        freqs = self.freqs[None, :, None]  # (1, bins, 1)
        k = torch.round(freqs / f0[:, None]).clamp(min=1.0)  # (B, bins, F)
        d = (freqs - k * f0[:, None]) * (self.mel.win_length / c.sample_rate)
        shape = (torch.sinc(d) + 0.5 * (torch.sinc(d - 1) + torch.sinc(d + 1))).abs()
        comb = shape * (self.mel.win_length * f0[:, None] / (2 * c.sample_rate))
        j = torch.arange(self.bins, device=f0.device, dtype=torch.float64)[None, :, None]
        cycles = torch.remainder(k * phi[:, None] - 0.5 * j, 1.0)
        dtype = frames.dtype
        return comb.to(dtype), torch.polar(torch.ones_like(comb, dtype=dtype),
                                           (2 * math.pi * cycles).to(dtype))

    def spectrum(self, frames: torch.Tensor, noise: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, N) frames -> the complex STFT (B, bins, F) the model writes, F =
        :meth:`stft_frames` (N); ``noise``: the random phases in cycles (B, bins, F), None
        draws them (from ``generator`` when given)."""
        c = self.config
        if frames.dim() != 3 or frames.shape[1] != c.local_channels:
            raise ValueError(f"IstftNet: expected frames of shape (B, {c.local_channels}, N), "
                             f"got {tuple(frames.shape)}")
        N = frames.shape[-1]
        x = F.pad(frames, (0, self.stft_frames(N) - N), mode="replicate")  # (B, C, F)
        h = self.inp(x)  # (B, R, F)
        skips = 0
        for block in self.blocks:
            h, s = block(h)
            skips = skips + s
        y = self.out(F.relu(self.post(F.relu(skips))))  # (B, 3 or 4 bins, F)
        K = self.bins
        g, a, b = y[:, :K], y[:, K:2 * K], y[:, 2 * K:3 * K]
        B, _, Fr = x.shape
        freqs = self.freqs.to(x.dtype)[None, :, None].expand(B, -1, Fr)
        log_mag = self.envelope(x[:, :c.mel_channels], freqs) + MAX_LOG_GAIN * torch.tanh(
            g / MAX_LOG_GAIN)
        # a frame whose every band is at the features' floor (-100 dB) is digital silence
        floor = self.mel.floor_feature + 1e-4
        sound = (x[:, :c.mel_channels] > floor).any(dim=1, keepdim=True).to(x.dtype)
        rotation = torch.complex(a, b) / torch.sqrt(a ** 2 + b ** 2 + 1e-6)
        spec = torch.exp(log_mag) * sound * rotation  # (B, bins, F)
        if c.phase_reference == "none":
            return spec
        if noise is None:
            noise = torch.rand(B, K, Fr, generator=generator, device=x.device, dtype=x.dtype)
        v = torch.sigmoid(y[:, 3 * K:])
        comb, harm = self.harmonics(x)
        return spec * (v * comb * harm + (1 - v) * torch.polar(torch.ones_like(noise),
                                                               2 * math.pi * noise))

    def forward(self, frames: torch.Tensor, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, N) frames -> (B, N * hop) waveform. ``noise`` (B, bins, F) are the random
        phases (cycles) of the unvoiced part; None draws them (from ``generator`` when
        given)."""
        spec = self.spectrum(frames, noise, generator)
        return self.mel.overlap_add(spec, frames.shape[-1] * self.config.hop_length)
