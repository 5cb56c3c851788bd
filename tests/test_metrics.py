"""Objective metrics: zero for identical signals, the right size for known differences, no NaN
for silence, and a Griffin-Lim baseline that inverts wavedil's own features."""

import math
import sys

import numpy as np
import pytest
import torch

from wavedil.dsp import metrics as M
from wavedil.dsp.audio import LogMel, mel_filterbank

RATE = 16000


def sine(freq, seconds=0.5, amp=0.5):
    t = np.arange(int(seconds * RATE)) / RATE
    return amp * np.sin(2 * np.pi * freq * t)


def harmonic(seconds=1.0, f0=150.0):
    """A voiced, vibrato, amplitude-modulated harmonic tone (a crude vowel) over a -60 dB noise
    floor, as recordings have (log spectra of empty bands would swing with any added noise)."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / RATE
    y = sum(np.sin(k * phase) / k for k in range(1, 30)) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    return 0.95 * y / np.abs(y).max() + noise(t.size, 1e-3, seed=5)


def noise(n, amp=0.3, seed=0):
    return amp * np.random.default_rng(seed).standard_normal(n)


def test_identical_signals_score_zero():
    y = harmonic(0.5)
    assert M.log_mel_distance(y, y, RATE) == 0.0
    assert M.mel_cepstral_distortion(y, y, RATE) == 0.0
    f0 = M.f0_metrics(y, y, RATE)
    assert f0.rmse_cents == 0.0 and f0.vde == 0.0 and f0.voiced_both > 0.8 * f0.frames


def test_a_hundred_cents_apart():
    f0 = M.f0_metrics(sine(200.0), sine(200.0 * 2 ** (100 / 1200)), RATE)
    # pyin's pitch grid is 10 cents wide
    assert f0.rmse_cents == pytest.approx(100.0, abs=10.0) and f0.vde == 0.0


def test_noise_against_a_tone_is_far():
    y = harmonic(0.5)
    n = noise(y.size)
    near = 0.98 * y + noise(y.size, 1e-3)
    assert M.log_mel_distance(y, n, RATE) > 10 * M.log_mel_distance(y, near, RATE)
    assert M.mel_cepstral_distortion(y, n, RATE) > 10 * M.mel_cepstral_distortion(y, near, RATE)
    f0 = M.f0_metrics(y, n, RATE)
    assert f0.vde > 0.8 and f0.rmse_cents is None


def test_gain_alone_costs_no_mcd_but_log_mel_distance():
    y = harmonic(0.5)
    assert M.mel_cepstral_distortion(y, 0.5 * y, RATE) == pytest.approx(0.0, abs=1e-6)
    assert M.log_mel_distance(y, 0.5 * y, RATE) == pytest.approx(20 * math.log10(2), abs=0.1)


def test_silence_is_unvoiced_and_never_nan():
    silent = np.zeros(8000)
    f0, voiced = M.estimate_f0(silent, RATE)
    assert f0.shape == voiced.shape == (8000 // 256,) and not voiced.any() and np.all(f0 == 0)
    f0 = M.f0_metrics(silent, sine(200.0), RATE)
    assert f0.rmse_cents is None and f0.vde > 0.9 and not math.isnan(f0.vde)
    assert M.f0_metrics(silent, silent, RATE).vde == 0.0
    assert M.mel_cepstral_distortion(silent, sine(200.0), RATE) is None
    assert math.isfinite(M.log_mel_distance(silent, sine(200.0), RATE))


def test_common_length_and_bad_input():
    y = harmonic(0.5)
    assert M.log_mel_distance(y, np.concatenate([y, noise(4000)]), RATE) == 0.0
    with pytest.raises(ValueError, match="empty"):
        M.log_mel_distance(y, np.zeros(0), RATE)
    with pytest.raises(ValueError, match="NaN"):
        M.log_mel_distance(y, np.full(10, np.nan), RATE)
    assert M.analysis_settings(16000) == (1024, 256) and M.analysis_settings(22050) == (1411, 353)


def test_mel_cepstrum_is_an_orthonormal_dct():
    from scipy.fft import dct

    y = harmonic(0.3)
    logp = np.log(np.maximum(M._mel(y, RATE, 2.0), 1e-10))
    expected = dct(logp, type=2, norm="ortho", axis=0)[: M.MCD_ORDER + 1] / (2 * math.sqrt(2 * M.N_MELS))
    np.testing.assert_allclose(M.mel_cepstrum(y, RATE), expected, atol=1e-9)


def test_filterbank_is_logmels():
    import torchaudio.transforms as AT

    lm = LogMel(RATE, 64, 16)
    ta = AT.MelSpectrogram(RATE, n_fft=256, hop_length=64, n_mels=16, power=1.0)
    np.testing.assert_array_equal(mel_filterbank(RATE, 256, 16), ta.mel_scale.fb.numpy().T)
    np.testing.assert_array_equal(lm.filterbank(), mel_filterbank(RATE, 256, 16))


@pytest.mark.parametrize("hop,n_mels", [(64, 16), (256, 80)])
def test_griffin_lim_from_wavedil_features(hop, n_mels):
    y = harmonic(1.0)
    features = LogMel(RATE, hop, n_mels)(torch.tensor(y, dtype=torch.float32)).numpy()  # (n_mels, T // hop)
    g = M.griffin_lim(features, RATE, hop, 4 * hop)
    assert g.shape == (features.shape[1] * hop,) and np.isfinite(g).all()
    assert np.array_equal(g, M.griffin_lim(features, RATE, hop, 4 * hop))  # fixed random state
    gl = M.log_mel_distance(y, g, RATE)
    # 16 bands of 256-point frames cannot hold the harmonics (the envelope survives);
    # 80 bands of 1024-point frames, the recipes' resolution, hold them and the pitch
    assert gl < (0.6 if n_mels == 16 else 0.2) * M.log_mel_distance(y, noise(y.size), RATE)
    if n_mels == 80:
        assert gl < 5.0
        f0 = M.f0_metrics(y, g, RATE)
        assert f0.rmse_cents < 30.0 and f0.vde < 0.1
    with pytest.raises(ValueError, match="frames"):
        M.griffin_lim(features[:, :0], RATE, hop, 4 * hop)


def test_pesq_and_stoi():
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    y = harmonic(2.0)
    features = LogMel(RATE, 256, 80)(torch.tensor(y, dtype=torch.float32)).numpy()
    g = M.griffin_lim(features, RATE, 256, 1024)
    y = y[: g.size]
    assert M.pesq_wb(y, y, RATE) > 4.5 and M.stoi(y, y, RATE) > 0.99
    n = noise(y.size)
    assert M.pesq_wb(y, g, RATE) > M.pesq_wb(y, n, RATE)
    assert M.stoi(y, g, RATE) > M.stoi(y, n, RATE)
    # other rates are resampled to 16 kHz for PESQ wideband
    y22 = M._resample(y, RATE, 22050)
    assert M.pesq_wb(y22, y22, 22050) > 4.5
    assert M.stoi(y[:800], y[:800], RATE) is None  # too short: no score, not pystoi's 1e-5


def test_missing_extras_are_unavailable_not_failing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pesq", None)
    monkeypatch.setitem(sys.modules, "pystoi", None)
    assert set(M.unavailable_metrics()) == {"pesq_wb", "stoi"}
    y = sine(200.0)
    assert M.pesq_wb(y, y, RATE) is None and M.stoi(y, y, RATE) is None


def harmonics(f0, seconds=0.5, seed=0):
    """Exact harmonics of ``f0`` up to rate / 2, 2 dB quieter each, random phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(10 ** (-2 * (k - 1) / 20) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
               for k in range(1, int(RATE / 2 / f0) + 1))


@pytest.mark.parametrize("f0", [130.81, 146.83, 440.0, 987.77])
def test_hnr_of_exact_harmonics_is_high_whatever_the_period_fraction(f0):
    # periods of 122.3, 109.0, 36.4 and 16.2 samples; a whole-sample lag reads 440 Hz as 16 dB
    assert M.harmonic_to_noise_ratio(harmonics(f0), RATE, f0) > 40.0


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_hnr_reads_the_power_ratio_of_added_white_noise(snr_db):
    y = harmonics(261.63, 1.0)
    n = noise(y.size, 1.0, seed=3)
    n *= math.sqrt(np.mean(y ** 2) / np.mean(n ** 2) / 10 ** (snr_db / 10))
    assert M.harmonic_to_noise_ratio(y + n, RATE, 261.63) == pytest.approx(snr_db, abs=0.7)


def test_hnr_counts_only_loud_frames_and_rejects_bad_input():
    y = harmonics(200.0, 1.0)
    y[: RATE // 2] = noise(RATE // 2, 1e-4)  # 60 dB down: left out by the 30 dB floor
    assert M.harmonic_to_noise_ratio(y, RATE, 200.0) > 40.0
    assert math.isnan(M.harmonic_to_noise_ratio(np.zeros(RATE), RATE, 200.0))
    assert math.isnan(M.harmonic_to_noise_ratio(np.ones(500), RATE, 200.0))  # under a frame
    with pytest.raises(ValueError, match="f0"):
        M.harmonic_to_noise_ratio(y, RATE, 0.0)
    with pytest.raises(ValueError, match="NaN"):
        M.harmonic_to_noise_ratio(np.full(RATE, np.nan), RATE, 200.0)
