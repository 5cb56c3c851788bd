"""Linear prediction from mel frames: Levinson-Durbin, stability, causality, emphasis filters."""

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import torch

from wavedil.dsp.audio import LogMel
from wavedil.dsp.lpc import MelLPC, de_emphasis, levinson, lp_predict, pre_emphasis

RATE, HOP, NFFT, MELS = 16000, 256, 1024, 80


def test_levinson_solves_the_normal_equations():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4000))
    r = np.stack([[row[: len(row) - k] @ row[k:] for k in range(9)] for row in x])
    a, k = levinson(r)
    for i in range(3):
        want = scipy.linalg.solve_toeplitz(r[i, :8], -r[i, 1:9])
        np.testing.assert_allclose(a[i], want, rtol=1e-8, atol=1e-10)
    assert (np.abs(k) < 1).all()


def test_levinson_rejects_a_zero_frame():
    with pytest.raises(ValueError, match="r\\[0\\] must be > 0"):
        levinson(np.zeros((1, 5)))


def _gain(signal: np.ndarray, a: np.ndarray) -> float:
    """Prediction gain (dB) of per-frame coefficients a (N, p) on ``signal``."""
    T = a.shape[0] * HOP
    s = torch.from_numpy(signal[:T].astype(np.float32))[None]
    coeffs = torch.from_numpy(a)[torch.arange(T) // HOP][None]
    e = s - lp_predict(s, coeffs)
    return 10 * np.log10(float((s[:, 64:] ** 2).sum() / (e[:, 64:] ** 2).sum()))


def test_mel_lpc_recovers_a_resonance():
    # white noise through two resonances: the true predictor of order 4 gains a lot
    rng = np.random.default_rng(1)
    poles = [0.97 * np.exp(1j * 2 * np.pi * 500 / RATE), 0.95 * np.exp(1j * 2 * np.pi * 2200 / RATE)]
    den = np.real(np.poly(poles + [p.conjugate() for p in poles]))
    x = scipy.signal.lfilter([1.0], den, rng.standard_normal(RATE * 2))
    x = (0.5 * x / np.abs(x).max()).astype(np.float32)
    mel = LogMel(RATE, HOP, MELS, NFFT)(torch.from_numpy(x))
    a = MelLPC(RATE, NFFT, MELS, order=16, pre_emphasis=0.0)(mel)
    true = np.tile(den[1:].astype(np.float32), (a.shape[0], 1))
    true = np.pad(true, ((0, 0), (0, 12)))
    g_mel, g_true = _gain(x, a), _gain(x, true)
    assert g_true > 15
    assert g_mel > g_true - 4, (g_mel, g_true)


@pytest.mark.parametrize("frames", ["silence", "clipped", "random"])
def test_every_frame_gives_a_stable_filter(frames):
    lpc = MelLPC(RATE, NFFT, MELS, order=16)
    rng = np.random.default_rng(2)
    if frames == "silence":
        mel = torch.zeros(MELS, 20)
    elif frames == "clipped":
        t = np.arange(RATE // 2) / RATE
        wave = np.clip(40 * np.sin(2 * np.pi * 220 * t), -1, 1).astype(np.float32)
        mel = LogMel(RATE, HOP, MELS, NFFT)(torch.from_numpy(wave))
    else:
        mel = torch.from_numpy(rng.uniform(0, 1, (MELS, 20)).astype(np.float32))
    a = lpc(mel)
    assert np.isfinite(a).all()
    for row in a:
        assert np.abs(np.roots(np.concatenate([[1.0], row]))).max() < 1.0


def test_mel_lpc_rejects_bad_frames():
    lpc = MelLPC(RATE, NFFT, MELS)
    with pytest.raises(ValueError, match="expected frames of shape"):
        lpc(torch.zeros(40, 3))
    with pytest.raises(ValueError, match="NaN"):
        lpc(torch.full((MELS, 3), float("nan")))
    with pytest.raises(ValueError, match="order"):
        MelLPC(RATE, NFFT, MELS, order=0)


def test_prediction_reads_only_earlier_samples():
    s = torch.randn(2, 100)
    a = torch.randn(2, 100, 8)
    p = lp_predict(s, a)
    s2 = s.clone()
    s2[:, 50] += 1.0
    p2 = lp_predict(s2, a)
    assert torch.equal(p[:, :51], p2[:, :51])
    assert not torch.equal(p[:, 51], p2[:, 51])


def test_emphasis_round_trip_and_streaming():
    x = torch.randn(3, 7000)
    y = pre_emphasis(x, 0.85)
    torch.testing.assert_close(de_emphasis(y, 0.85), x, atol=1e-5, rtol=1e-5)
    first = de_emphasis(y[:, :3001], 0.85)
    rest = de_emphasis(y[:, 3001:], 0.85, last=first[:, -1])
    torch.testing.assert_close(torch.cat([first, rest], 1), x, atol=1e-5, rtol=1e-5)
    assert torch.equal(pre_emphasis(x, 0.0), x)
