"""The embedded effects: deterministic reference devices that make the default training pairs
(plucked strings in, the same through the device out), so an effect recipe trains with no
download. Each has one knob in [0, 1] (its gain), so that knob models train on them too.

The pedal (:func:`reference_effect`, the effect quickstart's):

    y = level * lowpass( tanh(drive * x) / tanh(drive) )

A memoryless soft clipper (tanh, Yeh et al. 2008's simplest overdrive) followed by a one-pole
tone filter: a nonlinearity with memory after it, the structure of a Tube Screamer's clipping
and tone stages at its simplest. Its knob sets the drive from 1 to 36 (36 ** knob; 0.5 is the
default drive of 6).

The amp (:func:`reference_amp`), closer to a guitar amplifier, so that model sizes separate:

    x -> coupling high-pass -> gain -> triode stage 1 -> interstage filters -> triode stage 2
      -> tone stack (low shelf, mid scoop, high shelf) -> power stage with sag -> output filters

- a triode stage is asymmetric, tanh(v + b) - tanh(b) with a bias b, and has memory: the grid
  current that a positive swing draws charges the coupling capacitor and shifts the stage's
  operating point, v = u - k * lowpass(max(u, 0)) (blocking distortion), so the stage's curve
  depends on what it has played in the last tens of milliseconds;
- the power stage sags: its headroom falls as the supply is loaded, V = 1 / (1 + sag * e)
  with e an envelope of its input (about 20 ms), and it clips at +-V: loud chords compress and
  bloom;
- the knob sets the preamp gain from 0 to +30 dB (clean to saturated).

Both are causal, run in float64 and return float32.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

DRIVE = 6.0
"""Gain before the pedal's clipper (about 15.6 dB): notes at half scale already clip."""
TONE_HZ = 2500.0
"""Cutoff of the one-pole low-pass after the pedal's clipper."""
LEVEL = 0.7
"""The pedal's output gain."""
KNOB = 0.5
"""Every reference's default knob position."""
AMP_GAIN_DB = (0.0, 30.0)
"""The amp's preamp gain at knob 0 and 1 (dB, linear in between)."""
AMP_SAG = 2.0
"""How far the amp's power stage headroom falls with its input envelope."""
AMP_LEVEL = 0.5
"""The amp's output gain."""


def _check(name: str, x: np.ndarray, sample_rate: int, knob: float) -> np.ndarray:
    if not isinstance(sample_rate, int) or sample_rate < 8000:
        raise ValueError(f"{name}: the sample rate must be an integer >= 8000, got {sample_rate!r}")
    if not (isinstance(knob, (int, float)) and 0.0 <= knob <= 1.0):
        raise ValueError(f"{name}: the knob must be in [0, 1], got {knob!r}")
    return np.asarray(x, np.float64)


def _lowpass1(x: np.ndarray, hz: float, rate: int) -> np.ndarray:
    """One-pole low-pass (unit gain at DC)."""
    from scipy.signal import lfilter

    a = math.exp(-2.0 * math.pi * min(hz, 0.45 * rate) / rate)
    return lfilter([1.0 - a], [1.0, -a], x)


def _highpass1(x: np.ndarray, hz: float, rate: int) -> np.ndarray:
    """One-pole high-pass (a coupling capacitor): x less its one-pole low-pass."""
    return x - _lowpass1(x, hz, rate)


def _biquad(x: np.ndarray, kind: str, hz: float, gain_db: float, q: float,
            rate: int) -> np.ndarray:
    """A shelf or peaking filter of the Audio EQ Cookbook (R. Bristow-Johnson)."""
    from scipy.signal import lfilter

    A, w = 10 ** (gain_db / 40), 2 * math.pi * min(hz, 0.45 * rate) / rate
    cw, alpha = math.cos(w), math.sin(w) / (2 * q)
    if kind == "peak":
        b = [1 + alpha * A, -2 * cw, 1 - alpha * A]
        a = [1 + alpha / A, -2 * cw, 1 - alpha / A]
    else:
        s, r = (1 if kind == "low" else -1), 2 * math.sqrt(A) * alpha
        b = [A * ((A + 1) - s * (A - 1) * cw + r), 2 * s * A * ((A - 1) - s * (A + 1) * cw),
             A * ((A + 1) - s * (A - 1) * cw - r)]
        a = [(A + 1) + s * (A - 1) * cw + r, -2 * s * ((A - 1) + s * (A + 1) * cw),
             (A + 1) + s * (A - 1) * cw - r]
    return lfilter(np.array(b) / a[0], np.array(a) / a[0], x)


def _triode(u: np.ndarray, bias: float, shift: float, hz: float, rate: int) -> np.ndarray:
    """An asymmetric gain stage whose operating point moves with the grid current it drew."""
    v = u - shift * _lowpass1(np.maximum(u, 0.0), hz, rate)
    return np.tanh(v + bias) - math.tanh(bias)


def reference_effect(x: np.ndarray, sample_rate: int, drive: float = DRIVE,
                     tone_hz: float = TONE_HZ, level: float = LEVEL) -> np.ndarray:
    """The reference pedal on a mono signal: (T,) -> (T,) float32, causal and deterministic."""
    if drive <= 0 or not 0 < tone_hz < 0.45 * sample_rate:
        raise ValueError(f"reference_effect: need drive > 0 and 0 < tone_hz < 0.45 rate, got "
                         f"drive={drive}, tone_hz={tone_hz}, rate={sample_rate}")
    clipped = np.tanh(drive * np.asarray(x, np.float64)) / math.tanh(drive)
    return (level * _lowpass1(clipped, tone_hz, sample_rate)).astype(np.float32)


def reference_pedal(x: np.ndarray, sample_rate: int, knob: float = KNOB) -> np.ndarray:
    """The pedal with its knob: drive 36 ** knob (1 to 36; 6 at the default 0.5)."""
    _check("reference_pedal", x, sample_rate, knob)
    return reference_effect(x, sample_rate, drive=36.0 ** knob)


def reference_amp(x: np.ndarray, sample_rate: int, knob: float = KNOB) -> np.ndarray:
    """The reference amp on a mono signal, its knob the preamp gain: (T,) -> (T,) float32."""
    from scipy.signal import butter, lfilter

    u = _highpass1(_check("reference_amp", x, sample_rate, knob), 20.0, sample_rate)
    lo, hi = AMP_GAIN_DB
    u = u * 10 ** ((lo + (hi - lo) * knob) / 20)
    u = _triode(u, 0.35, 0.6, 15.0, sample_rate)
    u = _highpass1(_lowpass1(u, 7000.0, sample_rate), 60.0, sample_rate)  # Miller, coupling
    u = _highpass1(_triode(4.0 * u, -0.25, 0.4, 10.0, sample_rate), 40.0, sample_rate)
    u = _biquad(u, "low", 120.0, 3.0, 0.707, sample_rate)  # the tone stack
    u = _biquad(u, "peak", 650.0, -7.0, 0.8, sample_rate)
    u = _biquad(u, "high", 2800.0, 4.0, 0.707, sample_rate)
    headroom = 1.0 / (1.0 + AMP_SAG * _lowpass1(np.abs(u), 8.0, sample_rate))
    u = headroom * np.tanh(1.5 * u / headroom)  # the power stage, clipping at its sagging rail
    b, a = butter(2, min(5500.0, 0.45 * sample_rate) / (sample_rate / 2))
    u = lfilter(b, a, _highpass1(u, 70.0, sample_rate))  # output transformer and speaker
    return (AMP_LEVEL * u).astype(np.float32)


REFERENCES: dict[str, Callable[..., np.ndarray]] = {"pedal": reference_pedal,
                                                    "amp": reference_amp}
"""The embedded effects by name: f(x, sample_rate, knob) -> y."""


__all__ = ["AMP_GAIN_DB", "AMP_LEVEL", "AMP_SAG", "DRIVE", "KNOB", "LEVEL", "REFERENCES",
           "TONE_HZ", "reference_amp", "reference_effect", "reference_pedal"]
