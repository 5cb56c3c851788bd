"""A harmonic-plus-noise vocoder: a dilated convolution stack over the frames (mel + f0)
that drives a bank of harmonic oscillators and a shaped noise source (``wavedil.harmonic_noise.synth``).

    frames (B, mel + 2, N) --1x1--> gated residual blocks over frames (dilated) --skip sum-->
        ReLU 1x1 ReLU 1x1 --> gains of the K harmonics | gains of the M noise bands
    the mel bands --> spectral envelope E(f) per frame (the bands' magnitudes over their widths,
        interpolated between band centres in log magnitude)
    a_k = E(k f0) 2 f0 / rate * gain_k        noise band m: E(f_m) / sqrt(3 win / 8) * gain_m
    f0 (from the frames' log-f0 and voicing) --> phase --> sum_k a_k sin(k phase + theta_k)
        + shaped noise      (theta_k per frame from the network with ``phases``, else 0)

The envelope terms are what a harmonic signal and white noise of those amplitudes would show
in the mel analysis (a Hann window of win_length samples), so the untrained model is already a plain
harmonic-plus-noise vocoder of its mel frames; the network learns the corrections: how
voiced each band is, what the mel's resolution smears, where the frames' f0 is wrong. A frame
whose bands all sit at the log-mel floor is digital silence, and the model makes none there.

Speech is a periodic source through a slowly changing filter. A sample-by-sample network
must discover the periodicity before it can reproduce it; here it is given: the oscillators
are at the f0 the frames carry, and the network only decides, frame by frame, how loud each
harmonic is and how much noise lies in each band. The model is not autoregressive: it is
trained on spectral losses of whole crops (``wavedil.train.objective``) and synthesises a
whole utterance in one pass, many times faster than real time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..dsp.envelope import MelEnvelope
from ..nn.blocks import GatedResidualBlock
from ..config import Config
from ..dsp.mel import MelF0Frames
from ..dsp.f0 import hz_of_features
from ..nn.receptive import receptive_field
from .shaping import SpectralShaper
from .synth import filtered_noise, harmonic_bank, harmonic_phase, upsample_frames


MAX_GAIN = 10.0
"""The largest gain over the envelope (+20 dB): room to correct the envelope's estimate."""


def _exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's positive output, MAX_GAIN sigmoid(x) ** ln 10 + 1e-7, in (1e-7, MAX_GAIN]:
    smooth in dB, so a gain can fall to silence and rise to MAX_GAIN."""
    return MAX_GAIN * torch.sigmoid(x) ** math.log(10.0) + 1e-7


def _logit_of_gain(gain: float) -> float:
    """The x at which :func:`_exp_sigmoid` is ``gain`` (in (0, MAX_GAIN))."""
    p = (gain / MAX_GAIN) ** (1.0 / math.log(10.0))
    return math.log(p / (1.0 - p))


@dataclass
class HarmonicNoiseConfig(Config, MelF0Frames):
    """Everything needed to rebuild a harmonic-plus-noise vocoder; stored in its checkpoints."""

    kind: str = "harmonic_noise"
    """The model family (``wavedil.families``): harmonic_noise, this vocoder."""
    local_channels: int = 82
    """Frame features: the mel bands, then log2(f0 / 150 Hz) and voicing (``data.f0: true``)."""
    hop_length: int = 256
    """Samples per frame."""
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
    skip_channels: int = 128
    """Channels of the skip connections and the output network."""
    causal: bool = False
    """Blocks that read only past and present frames (streamable); false also reads
    (receptive field - 1) / 2 frames ahead, as the mel window itself does."""
    harmonics: int = 100
    """Oscillators at k f0, k = 1..harmonics (those above rate / 2 stay silent)."""
    noise_bands: int = 64
    """Linear-frequency bands of the noise filter, from 0 to rate / 2."""
    noise_scale: float = 1.0
    """Gain of the shaped noise relative to unit white noise."""
    phases: bool = False
    """The network also sets each harmonic's phase per frame: harmonic k is
    a_k sin(k phase + theta_k), theta_k one more output per harmonic, starting at pi / 2
    (cosine phase). False: every harmonic in sine phase (theta_k = 0)."""
    smoothing: int = 1
    """Frames of a Hann-weighted moving average over the log amplitudes and log noise gains
    (centred; past frames only when causal); 1: none. Set at generation on trained pitch
    models, 7 frames lifted their harmonic-to-noise ratio by 3.1 and 2.8 dB; trained with, it
    did not help, and centred it spreads a pluck's attack over the frames it averages
    (README, "Pitch, harmonic-plus-noise")."""
    shaping_dilations: list[int] | None = None
    """Dilations (in frames) of the second stage's blocks (``wavedil.harmonic_noise.shaping``:
    a stack that reads the first stage's spectrum beside the frames and sets a gain per STFT
    bin and frame, phases kept); None or empty: no second stage. Needs ``causal: false``."""
    shaping_channels: int = 96
    """Channels of the second stage's residual stream and skips (its gate has twice as many)."""
    n_fft: int | None = None
    """FFT size of the mel analysis (recipes set it from data); None: 4 * hop_length. With
    the mel settings (wavedil.dsp.mel.MelSettings, which recipes copy from the data too) it
    rebuilds the filterbank and log scaling that the envelope inverts."""

    def __post_init__(self) -> None:
        need = self.need
        need(self.kind == "harmonic_noise", "kind", "harmonic_noise for HarmonicNoiseConfig")
        if self.dilations is None:
            self.dilations = [1, 2, 4, 8, 1, 2, 4, 8]
        self.dilations = [int(d) for d in self.dilations]
        need(len(self.dilations) > 0 and all(d >= 1 for d in self.dilations), "dilations",
             "a non-empty list of integers >= 1")
        for name in ("kernel_size", "residual_channels", "skip_channels", "harmonics",
                     "noise_bands", "hop_length"):
            need(getattr(self, name) >= 1, name, ">= 1")
        need(self.gate_channels >= 2 and self.gate_channels % 2 == 0, "gate_channels",
             "even and >= 2")
        need(self.local_channels >= 3, "local_channels",
             ">= 3 (mel bands, then the f0 pair of data.f0: true)")
        need(self.sample_rate >= 1000, "sample_rate", ">= 1000")
        self.shaping_dilations = [int(d) for d in self.shaping_dilations or []]
        need(all(d >= 1 for d in self.shaping_dilations), "shaping_dilations",
             "a list of integers >= 1 (empty: no second stage)")
        need(self.shaping_channels >= 1, "shaping_channels", ">= 1")
        if self.shaping_dilations and self.causal:
            raise ValueError("model.shaping_dilations needs model.causal: false (the second "
                             "stage reads whole STFT frames, which reach ahead)")
        need(self.noise_bands >= 2, "noise_bands", ">= 2")
        need(self.noise_scale >= 0, "noise_scale", ">= 0")
        need(self.smoothing >= 1, "smoothing", ">= 1 (frames; 1: none)")
        need(self.n_fft is None or self.n_fft >= 2 * self.mel_channels - 2, "n_fft",
             f"null or >= 2 (mel bands - 1) = {2 * self.mel_channels - 2}")
        self.check_mel(self.sample_rate, self.fft_size)

    @property
    def receptive_field_frames(self) -> int:
        """Frames one frame's controls depend on (past and, non-causal, future ones): the
        blocks', widened by the smoothing; with a second stage, a bound: its blocks' frames
        and, on each side, the STFT frames that overlap a frame's samples."""
        frames = receptive_field(self.kernel_size, self.dilations) + self.smoothing - 1
        if self.shaping_dilations:  # the STFT frames the stage reads and writes, its own blocks
            span = -(-self.fft_size // self.hop_length)  # frames one STFT window overlaps
            frames += receptive_field(self.kernel_size, self.shaping_dilations) - 1 + 2 * span
        return frames

    @property
    def receptive_field(self) -> int:
        """Samples one output sample depends on: the frames of its controls, and the next
        frame that the interpolation to samples reads."""
        return (self.receptive_field_frames + 1) * self.hop_length


class HarmonicNoiseNet(nn.Module):
    """Frames (mel bands + log-f0 + voicing) -> waveform, (B, C, N) -> (B, N * hop)."""

    def __init__(self, config: HarmonicNoiseConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or HarmonicNoiseConfig()
        self.inp = nn.Conv1d(c.local_channels, c.residual_channels, 1)
        self.blocks = nn.ModuleList(
            GatedResidualBlock(c.residual_channels, c.gate_channels, c.skip_channels,
                               c.kernel_size, d, causal=c.causal, residual=i < len(c.dilations) - 1)
            for i, d in enumerate(c.dilations))
        self.post = nn.Conv1d(c.skip_channels, c.skip_channels, 1)
        K, M = c.harmonics, c.noise_bands
        self.out = nn.Conv1d(c.skip_channels, K + M + (K if c.phases else 0), 1)
        with torch.no_grad():  # start as the plain vocoder of the envelope (gains measured on speech)
            self.out.weight.mul_(0.1)
            self.out.bias[:K] = _logit_of_gain(0.6)
            self.out.bias[K:K + M] = _logit_of_gain(0.3)
            if c.phases:  # cosine phase (on sine-phase weights' output it scored higher)
                self.out.weight[K + M:] = 0.0
                self.out.bias[K + M:] = math.pi / 2
        self.mel = c.log_mel()  # the features' filterbank and scaling, inverted by the envelope
        self.envelope = MelEnvelope(self.mel)
        self.shaper = (SpectralShaper(self.mel, c.local_channels, c.shaping_dilations,
                                      c.kernel_size, c.shaping_channels)
                       if c.shaping_dilations else None)
        self.register_buffer("noise_freqs", torch.linspace(0, c.sample_rate / 2, c.noise_bands),
                             persistent=False)

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def f0_hz(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The frames' f0 in Hz (unvoiced frames hold the last voiced value) and voicing:
        (B, C, N) -> (B, N), (B, N) bool."""
        return hz_of_features(frames)

    def log_envelope(self, frames: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        """ln E(f) of each frame's spectral envelope at ``freqs`` (B, F, N) Hz -> (B, F, N)
        (``wavedil.dsp.envelope``: the mel bands' magnitudes per unit of filter weight,
        interpolated linearly in log magnitude between band centres)."""
        return self.envelope(frames[:, :self.config.mel_channels], freqs)

    def controls(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-frame synthesis controls: amplitudes (B, K, N) (zero above rate / 2), noise
        gains (B, M, N) and f0 (B, N) Hz; with ``phases``, the amplitudes of sin(k phase)
        and, as "quadrature" (B, K, N), those of cos(k phase)."""
        c = self.config
        if frames.dim() != 3 or frames.shape[1] != c.local_channels:
            raise ValueError(f"HarmonicNoiseNet: expected frames of shape (B, {c.local_channels}, "
                             f"N), got {tuple(frames.shape)}")
        h = self.inp(frames)  # (B, R, N)
        skips = 0
        for block in self.blocks:
            h, s = block(h)
            skips = skips + s
        y = self.out(F.relu(self.post(F.relu(skips))))  # (B, K + M, N)
        B, _, N = frames.shape
        f0, _ = self.f0_hz(frames)
        k = torch.arange(1, c.harmonics + 1, device=frames.device, dtype=frames.dtype)
        freqs = k[None, :, None] * f0[:, None]  # (B, K, N)
        below = (freqs < c.sample_rate / 2).to(frames.dtype)
        harm = self.log_envelope(frames, freqs) + torch.log(2 * f0[:, None] / c.sample_rate)
        noise_f = self.noise_freqs[None, :, None].expand(B, -1, N)
        noise = self.log_envelope(frames, noise_f) - 0.5 * math.log(3 * self.mel.win_length / 8)
        K, M = c.harmonics, c.noise_bands
        harm = self._smooth(harm + torch.log(_exp_sigmoid(y[:, :K])))
        noise = self._smooth(noise + torch.log(_exp_sigmoid(y[:, K:K + M])))
        # a frame whose every band is at the features' floor (-100 dB) is digital silence
        # (1e-4 above it: a float32 ln or log10 floor read back in float64 sits a hair above)
        floor = self.mel.floor_feature + 1e-4
        sound = (frames[:, :c.mel_channels] > floor).any(dim=1, keepdim=True).to(frames.dtype)
        amplitudes = torch.exp(harm) * below * sound
        out = {"amplitudes": amplitudes, "noise": torch.exp(noise) * sound, "f0": f0}
        if c.phases:
            theta = y[:, K + M:]
            out["amplitudes"] = amplitudes * torch.cos(theta)
            out["quadrature"] = amplitudes * torch.sin(theta)
        return out

    def _smooth(self, x: torch.Tensor) -> torch.Tensor:
        """The config's moving average over frames of (B, F, N) -> (B, F, N), edge frames
        repeated beyond the ends."""
        k = self.config.smoothing
        if k == 1:
            return x
        w = torch.hann_window(k + 2, periodic=False, dtype=x.dtype, device=x.device)[1:-1]
        w = (w / w.sum()).expand(x.shape[1], 1, k)  # (F, 1, k) one filter per row
        pad = (k - 1, 0) if self.config.causal else ((k - 1) // 2, k // 2)
        return F.conv1d(F.pad(x, pad, mode="replicate"), w, groups=x.shape[1])

    def forward(self, frames: torch.Tensor, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, N) frames -> (B, N * hop) waveform. ``noise`` (B, N * hop) is the white noise
        the noise branch shapes; None draws it (from ``generator`` when given)."""
        c = self.config
        ctl = self.controls(frames)
        B, N = ctl["f0"].shape
        T = N * c.hop_length
        phase, _ = harmonic_phase(ctl["f0"], c.sample_rate, c.hop_length)
        f0_t = upsample_frames(ctl["f0"][:, None], c.hop_length)[:, 0]
        wave = harmonic_bank(phase, f0_t, ctl["amplitudes"], c.sample_rate,
                             ctl.get("quadrature"))  # (B, T)
        if c.noise_scale > 0:
            if noise is None:
                noise = torch.randn(B, T, generator=generator, device=frames.device,
                                    dtype=frames.dtype)
            wave = wave + c.noise_scale * filtered_noise(noise, ctl["noise"], c.hop_length)
        if self.shaper is not None:
            wave = self.shaper(frames, wave)
        return wave
