"""The phase terms of a vocoder's loss (wavedil/train/phase.py): zero for the reference, blind
to gain and polarity (what the frames cannot say), and they see a shift of the glottal pulses
and a wrong frequency, which a magnitude loss does not."""

from __future__ import annotations

import math

import pytest
import torch

from wavedil.dsp.audio import LogMel
from wavedil.train.phase import phase_loss
from wavedil.train.spectral import multi_resolution_stft_loss

RATE = 16000
MEL = LogMel(RATE, 64, n_mels=16, n_fft=256)


def pulses(period: int, shift: int = 0, n: int = 4096) -> torch.Tensor:
    """A train of decaying pulses every ``period`` samples, starting at ``shift``: (1, n)."""
    x = torch.zeros(1, n)
    x[0, shift::period] = 1.0
    kernel = torch.exp(-torch.arange(32) / 6.0) * torch.cos(torch.arange(32) * 0.9)
    return torch.nn.functional.conv1d(x[:, None], kernel.flip(-1)[None, None], padding=31)[:, 0, :n]


def test_zero_for_the_reference_and_blind_to_gain_and_polarity():
    ref = pulses(80)
    assert phase_loss(MEL, ref, ref).item() < 1e-6
    assert phase_loss(MEL, -0.3 * ref, ref).item() < 1e-6


def test_a_shift_of_the_pulses_costs_what_a_magnitude_loss_barely_sees():
    """Half a period later, the same pulses: the phase terms see it; the STFT loss sees it a
    quarter as much as a 5% change of period (a window of 256 samples holds 3.2 periods)."""
    inner = slice(1024, 5120)  # away from the first pulse and the end
    ref = pulses(80, n=8192)[:, inner]
    moved = pulses(80, shift=40, n=8192)[:, inner]
    slower = pulses(84, n=8192)[:, inner]
    assert phase_loss(MEL, moved, ref).item() > 0.2
    stft = lambda est: multi_resolution_stft_loss(est, ref, (256,)).item()  # noqa: E731
    assert stft(moved) < 0.3 * stft(slower)


def test_a_wrong_frequency_costs_more_than_the_right_one():
    t = torch.arange(4096) / RATE
    ref = torch.sin(2 * math.pi * 440 * t)[None]
    near = torch.sin(2 * math.pi * 445 * t + 1.0)[None]
    far = torch.sin(2 * math.pi * 470 * t)[None]
    assert phase_loss(MEL, near, ref).item() < phase_loss(MEL, far, ref).item()


def test_gradients_stay_finite_from_silence():
    est = torch.zeros(1, 4096, requires_grad=True)
    loss = phase_loss(MEL, est, pulses(80))
    loss.backward()
    assert torch.isfinite(est.grad).all() and 0.9 < loss.item() <= 1.0


def test_shapes_must_match():
    with pytest.raises(ValueError, match="phase_loss: expected two"):
        phase_loss(MEL, torch.zeros(1, 4096), torch.zeros(1, 4000))
