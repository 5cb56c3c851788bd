"""f0 and voicing per frame: accuracy on a tone, never NaN, framed like the mel."""

import numpy as np
import torch

from wavedil.dsp.f0 import estimate_f0, f0_features, refine_f0, sample_periods

RATE, HOP = 16000, 256


def test_a_tone_is_voiced_at_its_pitch():
    t = np.arange(RATE) / RATE
    x = 0.5 * np.sin(2 * np.pi * 200 * t) + 0.2 * np.sin(2 * np.pi * 400 * t)
    f0, voiced = estimate_f0(x, RATE, HOP)
    assert f0.shape == voiced.shape == (RATE // HOP,)
    assert voiced[4:-4].all()
    cents = 1200 * np.abs(np.log2(f0[4:-4] / 200.0))
    assert cents.max() < 20


def test_silence_and_noise_are_unvoiced_and_finite():
    f0, voiced = estimate_f0(np.zeros(RATE // 2), RATE, HOP)
    assert not voiced.any() and (f0 == 0).all()
    rng = np.random.default_rng(0)
    f0, voiced = estimate_f0(rng.standard_normal(RATE // 2) * 0.3, RATE, HOP)
    assert np.isfinite(f0).all() and voiced.mean() < 0.2
    assert (f0[~voiced] == 0).all()
    f0, voiced = estimate_f0(np.zeros(100), RATE, HOP)  # shorter than a frame
    assert f0.shape == (0,)


def test_features_and_periods():
    f0 = np.array([0.0, 150.0, 300.0], np.float32)
    voiced = np.array([False, True, True])
    feats = f0_features(f0, voiced)
    torch.testing.assert_close(feats, torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
    per = sample_periods(f0, voiced, 4, 1200, 13)
    assert per.tolist() == [0] * 4 + [8] * 4 + [4] * 5


def test_refinement_follows_fast_pitch_movement():
    """A harmonic tone with a half-octave vibrato at 3 Hz: pYIN's 64 ms frames average the
    movement (about 35 cents RMS off); the refined track stays within 15 cents of the truth
    at every frame centre."""
    hop = 200
    t = np.arange(RATE) / RATE
    hz = 150 * 2 ** (0.5 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(hz) / RATE
    x = sum(0.5 / k * np.sin(k * phase) for k in range(1, 15))
    true = hz[np.arange(RATE // hop) * hop]
    errors = {}
    for refine in (False, True):
        f0, voiced = estimate_f0(x, RATE, hop, refine=refine)
        inner = voiced.copy()
        inner[:4] = inner[-4:] = False
        assert inner.sum() > 60
        errors[refine] = 1200 * np.log2(f0[inner] / true[inner])
    assert np.sqrt(np.mean(errors[False] ** 2)) > 20
    assert np.sqrt(np.mean(errors[True] ** 2)) < 10 and np.abs(errors[True]).max() < 15


def test_refinement_keeps_unvoiced_frames_and_silence_finite():
    f0 = np.array([0.0, 200.0, 200.0, 0.0], np.float32)
    voiced = np.array([False, True, True, False])
    out = refine_f0(np.zeros(4 * HOP), f0, voiced, RATE, HOP)  # silence: nothing to sharpen
    assert np.array_equal(out, f0)
    rng = np.random.default_rng(1)
    out = refine_f0(rng.standard_normal(4 * HOP), f0, voiced, RATE, HOP)
    assert np.isfinite(out).all() and (out[~voiced] == 0).all()
    assert (np.abs(1200 * np.log2(out[voiced] / 200.0)) <= 61).all()  # within the search span
