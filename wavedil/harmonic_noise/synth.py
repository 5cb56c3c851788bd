"""Differentiable signal generators driven by frame-rate controls: a bank of harmonic
oscillators and spectrally shaped noise (the harmonic-plus-noise model of Serra 1989, written
as DDSP does, Engel et al. 2020). Pure functions on (B, C, T) tensors.

    f0 (B, N) Hz ------------------ upsample --> phase = 2 pi cumsum(f0 / rate)
    harmonic amplitudes (B, K, N) - upsample --> sum_k a_k(t) sin(k phase(t))   (k f0 < rate / 2)
    (and, optionally, (B, K, N) more)            + b_k(t) cos(k phase(t))   (a phase per harmonic)
                                    (the upsampling folded into the sum: harmonic_bank)
    noise gains (B, M, N) --------- per frame, M linear bands from 0 to rate / 2, applied to
                                    white noise in the STFT domain (Hann, hop = frame hop)

Frame n describes samples [n * hop, (n + 1) * hop) and is centred on sample n * hop, as
:class:`wavedil.dsp.audio.LogMel`'s frames are; controls are interpolated linearly between frame
centres, so sample t reads frames floor(t / hop) and floor(t / hop) + 1 (the last frame is held).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def upsample_frames(x: torch.Tensor, hop: int) -> torch.Tensor:
    """Linear interpolation between frame centres: (B, C, N) -> (B, C, N * hop).

    Sample t = n * hop + j gets (1 - j / hop) x[n] + (j / hop) x[n + 1]; the last frame is held.
    """
    if x.dim() != 3:
        raise ValueError(f"upsample_frames: expected (B, C, N), got {tuple(x.shape)}")
    if hop < 1:
        raise ValueError(f"upsample_frames: hop must be >= 1, got {hop}")
    w = _ramp(hop, x)
    y = x[..., None] * (1 - w) + _next_frame(x)[..., None] * w  # (B, C, N, hop)
    return y.flatten(-2)


def _next_frame(x: torch.Tensor) -> torch.Tensor:
    """(..., N) -> (..., N): each frame's successor, the last frame held."""
    return torch.cat([x[..., 1:], x[..., -1:]], dim=-1)


def _ramp(hop: int, like: torch.Tensor) -> torch.Tensor:
    """The next frame's weight at each of a frame's hop samples: j / hop, (hop,)."""
    return torch.arange(hop, device=like.device, dtype=like.dtype) / hop


def harmonic_phase(f0: torch.Tensor, sample_rate: int, hop: int,
                   start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The fundamental's phase in cycles, wrapped to [0, 1), for every sample, and the phase
    after the last sample (to continue in the next chunk): (B, N) Hz -> (B, N * hop), (B,).

    The running sum is kept in float64 so that long signals keep their pitch exact.
    """
    f = upsample_frames(f0[:, None].double(), hop)[:, 0] / sample_rate  # (B, T) cycles/sample
    cycles = torch.cumsum(f, dim=-1)
    if start is not None:
        cycles = cycles + start.double()[:, None]
    # phase of sample t is the sum of the increments before it: sample 0 starts at ``start``
    phase = torch.cat([cycles.new_zeros(cycles.shape[0], 1) if start is None
                       else start.double()[:, None], cycles[:, :-1]], dim=-1)
    return torch.remainder(phase, 1.0).to(f0.dtype), torch.remainder(cycles[:, -1], 1.0).to(f0.dtype)


def harmonic_bank(phase: torch.Tensor, f0_samples: torch.Tensor, amplitudes: torch.Tensor,
                  sample_rate: int, quadrature: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of harmonics: phase (B, T) cycles, f0 (B, T) Hz, frame amplitudes (B, K, N) with
    T = N * hop -> (B, T).

    Sample t = n * hop + j gets sum_k ((1 - j / hop) a_k[n] + (j / hop) a_k[n + 1]) sin(k phase(t)),
    the amplitudes interpolated between frame centres as :func:`upsample_frames` does (the
    last frame held). Harmonic k (1-based) is silenced where k f0 >= rate / 2, so nothing
    aliases. ``quadrature`` (B, K, N), when given, are the amplitudes b_k of cos(k phase),
    interpolated the same way: harmonic k is then r_k sin(k phase + theta_k) with
    (r cos theta, r sin theta) = (a, b), a phase of its own per frame.

    The interpolation is taken out of the sum: each frame's hop samples are one product of
    their (hop, K) oscillator values with the (K, 2) amplitudes of the frame and the next, so
    per-sample amplitudes (B, K, T), and their products and gradients, are never made. In a
    speech vocoder's training step (16 crops x 8,192 samples, 100 harmonics) that is most of
    the work of the step.
    """
    B, K, N = amplitudes.shape
    T = phase.shape[-1]
    if (N == 0 or T % N or phase.shape != f0_samples.shape or phase.shape[0] != B
            or (quadrature is not None and quadrature.shape != amplitudes.shape)):
        raise ValueError(f"harmonic_bank: expected phase and f0 (B, N * hop) and amplitudes "
                         f"(B, K, N), got {tuple(phase.shape)}, {tuple(f0_samples.shape)} and "
                         f"{tuple(amplitudes.shape)}"
                         + ("" if quadrature is None
                            else f" (quadrature {tuple(quadrature.shape)})"))
    hop = T // N
    # sin(k phase) as the imaginary part of e^(i k phase), one complex product per harmonic:
    # a float32 error of about k x 4e-7 (4e-5 at k = 100, as much as float32 sin of the
    # phase times k has), in a third of the time of K sines
    unit = torch.polar(torch.ones_like(phase), 2 * math.pi * phase).reshape(B, N, hop)
    limit = (sample_rate / 2) / f0_samples.reshape(B, N, hop)  # harmonics below: k < limit
    power, waves, cosines = unit, [], []
    for k in range(1, K + 1):
        if k > 1:
            power = power * unit
        below = limit > k
        waves.append(power.imag * below)
        if quadrature is not None:
            cosines.append(power.real * below)
    waves = torch.stack(waves + cosines, dim=2).reshape(B * N, -1, hop)  # (B N, K or 2 K, hop)
    both = amplitudes if quadrature is None else torch.cat([amplitudes, quadrature], dim=1)
    ends = torch.stack([both, _next_frame(both)], dim=-1)  # (B, K or 2 K, N, 2)
    ends = ends.transpose(1, 2).reshape(B * N, -1, 2).to(waves.dtype)
    parts = torch.bmm(waves.transpose(1, 2), ends)  # (B N, hop, 2)
    w = _ramp(hop, parts)
    return (parts[..., 0] * (1 - w) + parts[..., 1] * w).reshape(B, T)


def filtered_noise(noise: torch.Tensor, gains: torch.Tensor, hop: int) -> torch.Tensor:
    """White ``noise`` (B, N * hop) shaped by per-frame band gains (B, M, N): the gains are
    interpolated linearly over the bins of a 2 * hop point STFT (Hann, hop ``hop``, centred
    frames, so STFT frame n sits on sample n * hop like the controls), multiplied in, and the
    result resynthesised by overlap-add -> (B, N * hop)."""
    B, M, N = gains.shape
    T = noise.shape[-1]
    n_fft = 2 * hop
    window = torch.hann_window(n_fft, device=noise.device, dtype=noise.dtype)
    spec = torch.stft(noise, n_fft, hop, window=window, center=True, return_complex=True)
    # spec: (B, hop + 1, N + 1); frame N (past the end) reuses the last gains
    g = F.interpolate(gains.transpose(1, 2), size=hop + 1, mode="linear",
                      align_corners=True).transpose(1, 2)  # (B, hop + 1, N)
    g = torch.cat([g, g[..., -1:]], dim=-1)[..., :spec.shape[-1]]
    return torch.istft(spec * g, n_fft, hop, window=window, center=True, length=T)
