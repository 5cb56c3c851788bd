"""wavedil.harmonic_noise.synth: interpolation between frame centres, oscillators at the right frequencies
without aliasing, phase that continues across chunks, shaped noise, f0 filling."""

import math

import numpy as np
import pytest
import torch

from wavedil.dsp.f0 import fill_unvoiced
from wavedil.harmonic_noise.synth import filtered_noise, harmonic_bank, harmonic_phase, upsample_frames


def test_upsample_frames_interpolates_between_frame_centres_and_holds_the_last():
    x = torch.tensor([[[0.0, 4.0, 8.0]]])  # (1, 1, 3)
    y = upsample_frames(x, 4)[0, 0]
    assert y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8]
    with pytest.raises(ValueError, match="hop must be >= 1"):
        upsample_frames(x, 0)


def _peaks(wave: np.ndarray, rate: int, count: int) -> list[float]:
    spec = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    freqs = np.fft.rfftfreq(wave.size, 1 / rate)
    order = np.argsort(spec)[::-1]
    found: list[float] = []
    for i in order:
        if all(abs(freqs[i] - f) > 20 for f in found):
            found.append(float(freqs[i]))
        if len(found) == count:
            break
    return sorted(found)


def test_harmonic_bank_puts_harmonics_at_k_f0_and_none_above_nyquist():
    rate, hop, frames = 8000, 80, 50
    f0 = torch.full((1, frames), 1500.0)
    phase, _ = harmonic_phase(f0, rate, hop)
    f0_t = upsample_frames(f0[:, None], hop)[:, 0]
    amps = torch.ones(1, 5, frames)  # harmonics 1..5: 1500 .. 7500 Hz, only 1 and 2 < 4000
    wave = harmonic_bank(phase, f0_t, amps, rate)[0].numpy()
    assert _peaks(wave, rate, 2) == pytest.approx([1500, 3000], abs=3)
    spec = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    freqs = np.fft.rfftfreq(wave.size, 1 / rate)
    assert spec[np.abs(freqs - 500) < 40].max() < 1e-3 * spec.max()  # 4500 Hz aliased would sit at 3500; 6000 at 2000
    assert spec[np.abs(freqs - 2000) < 40].max() < 1e-3 * spec.max()


def test_harmonic_bank_equals_the_sum_over_upsampled_amplitudes_and_masks_per_sample():
    # the bank folds the amplitudes' interpolation into one product per frame and makes the
    # sines by repeated complex products; the reference is the plain per-sample sum. f0 glides
    # across rate / (2 k) inside frames, so the per-sample mask differs from both frames' own.
    rate, hop, frames, K = 8000, 40, 12, 30
    g = torch.Generator().manual_seed(0)
    f0 = torch.linspace(120.0, 900.0, frames, dtype=torch.float64)[None].repeat(2, 1)
    f0[1] = f0[1].flip(0)
    phase, _ = harmonic_phase(f0, rate, hop)
    f0_t = upsample_frames(f0[:, None], hop)[:, 0]
    amps = torch.rand(2, K, frames, generator=g, dtype=torch.float64, requires_grad=True)
    wave = harmonic_bank(phase, f0_t, amps, rate)  # (2, frames * hop)
    k = torch.arange(1, K + 1, dtype=torch.float64)[None, :, None]
    per_sample = upsample_frames(amps, hop)  # (2, K, T)
    expected = (torch.sin(2 * math.pi * k * phase[:, None]) * per_sample
                * (k * f0_t[:, None] < rate / 2)).sum(dim=1)
    assert wave.shape == expected.shape
    assert torch.allclose(wave, expected, atol=1e-9)
    grad = torch.randn(wave.shape, generator=g, dtype=torch.float64)
    (got,) = torch.autograd.grad(wave, amps, grad)
    (want,) = torch.autograd.grad(expected, amps, grad)
    assert torch.allclose(got, want, atol=1e-9)
    # float32: within K times the 4e-5 that a float32 sine of k x phase carries
    f32 = harmonic_bank(phase.float(), f0_t.float(), amps.detach().float(), rate)
    assert (f32.double() - expected.detach()).abs().max() < 30 * 4e-5
    with pytest.raises(ValueError, match="harmonic_bank: expected"):
        harmonic_bank(phase[:, :-1], f0_t[:, :-1], amps, rate)


def test_quadrature_amplitudes_give_each_harmonic_its_own_phase():
    # a_k sin(k phase) + b_k cos(k phase) = r_k sin(k phase + theta_k): against the per-sample
    # sum with the (a, b) pair interpolated between frames, and its gradients to both
    rate, hop, frames, K = 8000, 40, 10, 24
    g = torch.Generator().manual_seed(1)
    f0 = torch.linspace(150.0, 700.0, frames, dtype=torch.float64)[None]
    phase, _ = harmonic_phase(f0, rate, hop)
    f0_t = upsample_frames(f0[:, None], hop)[:, 0]
    r = torch.rand(1, K, frames, generator=g, dtype=torch.float64)
    theta = 2 * math.pi * torch.rand(1, K, frames, generator=g, dtype=torch.float64)
    a = (r * torch.cos(theta)).requires_grad_()
    b = (r * torch.sin(theta)).requires_grad_()
    wave = harmonic_bank(phase, f0_t, a, rate, b)
    k = torch.arange(1, K + 1, dtype=torch.float64)[None, :, None]
    arg = 2 * math.pi * k * phase[:, None]
    audible = k * f0_t[:, None] < rate / 2
    per_sample = torch.sin(arg) * upsample_frames(a, hop) + torch.cos(arg) * upsample_frames(b, hop)
    expected = (per_sample * audible).sum(dim=1)
    assert torch.allclose(wave, expected, atol=1e-9)
    grad = torch.randn(wave.shape, generator=g, dtype=torch.float64)
    got = torch.autograd.grad(wave, (a, b), grad)
    want = torch.autograd.grad(expected, (a, b), grad)
    assert all(torch.allclose(x, y, atol=1e-9) for x, y in zip(got, want))
    # in a steady frame the pair is one sinusoid of amplitude r and phase theta
    steady = torch.full((1, frames), 400.0, dtype=torch.float64)
    ph, _ = harmonic_phase(steady, rate, hop)
    one = torch.zeros(1, K, frames, dtype=torch.float64)
    a1, b1 = one.clone(), one.clone()
    a1[0, 2], b1[0, 2] = 0.5 * math.cos(1.0), 0.5 * math.sin(1.0)  # harmonic 3 at phase 1 rad
    w = harmonic_bank(ph, torch.full_like(ph, 400.0), a1, rate, b1)
    assert torch.allclose(w, 0.5 * torch.sin(2 * math.pi * 3 * ph + 1.0), atol=1e-9)
    # sine phase alone is the same bank as before
    assert torch.allclose(harmonic_bank(phase, f0_t, a.detach(), rate, torch.zeros_like(a)),
                          harmonic_bank(phase, f0_t, a.detach(), rate), atol=1e-12)
    with pytest.raises(ValueError, match="quadrature"):
        harmonic_bank(phase, f0_t, a, rate, b[:, :-1])


def test_harmonic_phase_continues_across_chunks_exactly():
    rate, hop = 16000, 64
    f0 = torch.linspace(100, 300, 40)[None].repeat(2, 1)  # (2, 40) a glide
    whole, end = harmonic_phase(f0, rate, hop)
    # the same phase, computed in two chunks: the second starts where the first ended; the
    # interpolation of the first chunk's last frame toward the next frame needs that frame
    first, mid = harmonic_phase(f0[:, :20], rate, hop)
    assert torch.allclose(first[:, :19 * hop], whole[:, :19 * hop], atol=1e-6)
    second, end2 = harmonic_phase(f0[:, 19:], rate, hop,
                                  start=whole[:, 19 * hop])
    assert torch.allclose(second, whole[:, 19 * hop:], atol=1e-5)
    assert torch.allclose(end2, end, atol=1e-5)


def test_filtered_noise_follows_its_band_gains():
    torch.manual_seed(0)
    hop, frames = 128, 200
    gains = torch.zeros(1, 8, frames)
    gains[:, :4] = 1.0  # the lower half of the spectrum only
    out = filtered_noise(torch.randn(1, frames * hop), gains, hop)[0].numpy()
    assert out.shape == (frames * hop,)
    spec = np.abs(np.fft.rfft(out)) ** 2
    low, high = spec[: spec.size * 3 // 8].sum(), spec[spec.size * 5 // 8:].sum()
    assert high < 1e-3 * low
    silent = filtered_noise(torch.randn(1, frames * hop), torch.zeros(1, 8, frames), hop)
    assert float(silent.abs().max()) == 0.0


def test_fill_unvoiced_holds_the_last_voiced_value():
    f0 = torch.tensor([[0.0, 0.0, 120.0, 0.0, 0.0, 200.0, 0.0], [0.0] * 7])
    voiced = f0 > 0
    out = fill_unvoiced(f0, voiced, 150.0)
    assert out[0].tolist() == [120, 120, 120, 120, 120, 200, 200]
    assert out[1].tolist() == [150] * 7
