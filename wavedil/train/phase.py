"""Phase terms of a vocoder's loss: how far the phase derivatives of a waveform's STFT are from
a reference's, where the reference has energy (after APNet's group-delay and instantaneous
frequency losses, Ai and Ling 2023, written on unit phasors so that no phase is ever unwrapped).

    X, Y = STFT(est), STFT(ref)          the model's own analysis (its features' window, hop)
    u = X / |X|  (and w = Y / |Y|)       unit phasors (|X| floored at 1e-4 of |Y|'s peak)
    group delay       gd(u)  = u[j] conj(u[j - 1])    neighbouring bins, one frame
    inst. frequency   iaf(u) = u[n] conj(u[n - 1])    one bin, neighbouring frames
    term = sum weight (1 - Re(d(u) conj(d(w)))) / sum weight,  weight = sqrt(|Y| |Y|) of both ends
        (1 - cos of the difference of the two derivatives: 0 when equal, 2 when opposite)
    loss = (group delay term + instantaneous frequency term) / 2

A bin's absolute phase is left out: it depends on where a crop starts relative to the
voice's glottal pulses, which frames of magnitudes do not say. The derivatives say what the
frames can: how the phase turns from frame to frame (each component's frequency) and across
neighbouring bins (where in the window a pulse falls relative to its harmonics).
"""

from __future__ import annotations

import torch

from ..dsp.audio import LogMel

FLOOR = 1e-4
"""The phasors' magnitude floor, relative to the crop's largest STFT magnitude."""


def _phasors(spec: torch.Tensor, floor: torch.Tensor) -> torch.Tensor:
    """Unit phasors of a complex STFT (B, bins, F), its magnitudes floored at ``floor``
    (B, 1, 1), so that a near-silent bin's phasor shrinks and its gradient stays bounded."""
    return spec / torch.maximum(spec.abs(), floor)


def _term(d_est: torch.Tensor, d_ref: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean of 1 - cos(difference) of two phasor derivatives."""
    agree = (d_est * d_ref.conj()).real
    return (weight * (1.0 - agree)).sum() / weight.sum().clamp(min=1e-12)


def phase_loss(mel: LogMel, est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """The phase terms of ``est`` against ``ref``, both (B, T), in the analysis of ``mel``
    (its window and hop): a scalar in [0, 2], 0 when every derivative agrees."""
    if est.shape != ref.shape or est.dim() != 2:
        raise ValueError(f"phase_loss: expected two (B, T) tensors of one shape, got "
                         f"{tuple(est.shape)} and {tuple(ref.shape)}")
    x, y = mel.spectrum(est), mel.spectrum(ref)  # (B, bins, F) complex
    with torch.no_grad():
        mag = y.abs()
        floor = FLOOR * mag.amax(dim=(1, 2), keepdim=True).clamp(min=1e-8)  # (B, 1, 1)
        w = _phasors(y, floor)
    u = _phasors(x, floor)
    gd = _term(u[:, 1:] * u[:, :-1].conj(), w[:, 1:] * w[:, :-1].conj(),
               (mag[:, 1:] * mag[:, :-1]).sqrt())
    iaf = _term(u[..., 1:] * u[..., :-1].conj(), w[..., 1:] * w[..., :-1].conj(),
                (mag[..., 1:] * mag[..., :-1]).sqrt())
    return 0.5 * (gd + iaf)
