"""The embedded effect: a deterministic reference pedal that makes the default training pair
(plucked strings in, the same through this effect out), so an effect recipe trains with no
download.

    y = level * lowpass( tanh(drive * x) / tanh(drive) )

A memoryless soft clipper (tanh, Yeh et al. 2008's simplest overdrive) followed by a one-pole
tone filter: a nonlinearity with memory after it, the structure of a Tube Screamer's clipping
and tone stages at its simplest. The filter (cutoff ``tone_hz``) makes the effect depend on
the past, so a model must learn more than a curve.
"""

from __future__ import annotations

import math

import numpy as np

DRIVE = 6.0
"""Gain before the clipper (about 15.6 dB): notes at half scale already clip."""
TONE_HZ = 2500.0
"""Cutoff of the one-pole low-pass after the clipper."""
LEVEL = 0.7
"""Output gain."""


def reference_effect(x: np.ndarray, sample_rate: int, drive: float = DRIVE,
                     tone_hz: float = TONE_HZ, level: float = LEVEL) -> np.ndarray:
    """The reference pedal on a mono signal: (T,) -> (T,) float32, causal and deterministic."""
    from scipy.signal import lfilter

    if drive <= 0 or not 0 < tone_hz < sample_rate / 2:
        raise ValueError(f"reference_effect: need drive > 0 and 0 < tone_hz < rate / 2, got "
                         f"drive={drive}, tone_hz={tone_hz}, rate={sample_rate}")
    clipped = np.tanh(drive * np.asarray(x, np.float64)) / math.tanh(drive)
    a = math.exp(-2.0 * math.pi * tone_hz / sample_rate)  # one pole at the cutoff
    return (level * lfilter([1.0 - a], [1.0, -a], clipped)).astype(np.float32)


__all__ = ["DRIVE", "LEVEL", "TONE_HZ", "reference_effect"]
