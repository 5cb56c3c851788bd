"""The embedded reference devices: causal, deterministic, their knobs do what they say, and the
amp has memory inside its nonlinearity (its sag), so that it is more than a curve and a filter."""

import numpy as np
import pytest

from wavedil.effect.reference import (REFERENCES, reference_amp, reference_effect,
                                      reference_pedal)

RATE = 16000


def _tone(seconds=1.0, hz=110.0, level=0.3):
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _distortion_db(y, hz=110.0):
    """Energy of harmonics 2..20 over the fundamental's, of the signal's second half (dB)."""
    y = y[y.size // 2:] * np.hanning(y.size - y.size // 2)
    power, f = np.abs(np.fft.rfft(y)) ** 2, np.fft.rfftfreq(y.size, 1 / RATE)
    band = lambda h: power[np.abs(f - h * hz) < 4].sum()  # noqa: E731
    return 10 * np.log10(sum(band(h) for h in range(2, 21)) / band(1))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_causal_and_deterministic(name):
    device = REFERENCES[name]
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.3
    y = device(x, RATE, 0.7)
    later = x.copy()
    later[2500:] = 0.9  # a different future
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(device(later, RATE, 0.7)[:2500], y[:2500])
    np.testing.assert_array_equal(device(x, RATE, 0.7), y)


def test_pedal_knob_at_its_default_is_the_quickstart_pedal():
    x = _tone()
    np.testing.assert_array_equal(reference_pedal(x, RATE, 0.5), reference_effect(x, RATE))
    assert _distortion_db(reference_pedal(x, RATE, 1.0)) > _distortion_db(
        reference_pedal(x, RATE, 0.0)) + 10


def test_amp_knob_goes_from_clean_to_saturated():
    quiet = _tone(level=0.02)
    clean, dirty = _distortion_db(reference_amp(quiet, RATE, 0.0)), _distortion_db(
        reference_amp(quiet, RATE, 1.0))
    assert clean < -30 and dirty > -12, (clean, dirty)


def test_amp_sags_and_is_asymmetric():
    """A loud tone compresses after its onset (the power stage's headroom falls as its
    envelope rises); the clean filters alone would hold its level. And the triode stages clip
    the two half-waves differently, so even harmonics appear."""
    x = _tone(seconds=0.6, level=0.8)
    y = reference_amp(x, RATE, 0.5)
    onset, settled = (np.abs(y[int(a * RATE):int(b * RATE)]).max()
                      for a, b in ((0.02, 0.05), (0.4, 0.6)))
    assert settled < 0.9 * onset, (onset, settled)
    y = y[y.size // 2:] * np.hanning(y.size - y.size // 2)
    power, f = np.abs(np.fft.rfft(y)) ** 2, np.fft.rfftfreq(y.size, 1 / RATE)
    second, fundamental = (power[np.abs(f - h * 110) < 4].sum() for h in (2, 1))
    assert second > 1e-3 * fundamental


@pytest.mark.parametrize("knob, rate", [(1.5, RATE), (-0.1, RATE), (0.5, 4000)])
def test_bad_settings_fail_in_one_line(knob, rate):
    with pytest.raises(ValueError, match="reference_amp: the (knob|sample rate)") as e:
        reference_amp(_tone(), rate, knob)
    assert "\n" not in str(e.value)
