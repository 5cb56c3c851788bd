"""Pitch taps: the frames fed during generation are exactly the training features."""

import pytest
import torch

from wavedil import WaveNet, WaveNetConfig
from wavedil.pitch import generate_with_pitch_taps, pitch_taps


def test_taps_read_one_period_back():
    audio = torch.arange(1, 41, dtype=torch.float32).reshape(2, 20)
    taps = pitch_taps(audio, [5, 7], lags=(-1, 0, 2))
    for b, P in enumerate([5, 7]):
        for j, lag in enumerate((-1, 0, 2)):
            for t in range(20):
                src = t + 1 - (P + lag)
                want = audio[b, src] if src >= 0 else 0.0
                assert taps[b, j, t] == want


def test_taps_are_causal():
    """Frame t must not see sample t + 1 (what output t predicts) or anything later."""
    torch.manual_seed(0)
    a = torch.randn(1, 64)
    base = pitch_taps(a, 3, lags=(-2, -1, 0))
    for t in range(63):
        b = a.clone()
        b[:, t + 1:] = torch.randn(1, 63 - t)
        assert torch.equal(pitch_taps(b, 3, lags=(-2, -1, 0))[..., :t + 1], base[..., :t + 1])


def test_a_tap_at_lag_zero_is_refused():
    with pytest.raises(ValueError, match="lag by >= 1"):
        pitch_taps(torch.zeros(1, 10), 2, lags=(-2,))


@pytest.mark.parametrize("engine", ["torch", "numba"])
def test_generation_feeds_the_training_features(engine):
    """Greedy generation, then the forward on the generated signal with training-time taps:
    each output's mean is the sample that was generated."""
    torch.manual_seed(0)
    lags = (-1, 0, 1)
    model = WaveNet(WaveNetConfig(layers=4, cycle_length=2, residual_channels=8, gate_channels=8,
                                  skip_channels=8, head="gaussian", local_channels=len(lags) + 1,
                                  cond_channels=4, cond_kernel=1, hop_length=1)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    B, n, periods = 2, 60, [7, 11]
    extra = torch.randn(B, 1, n)
    g = generate_with_pitch_taps(model, periods, n, extra, lags, temperature=0.0, engine=engine)
    audio = torch.cat([torch.zeros(B, 1), g], 1)  # the first input is silence
    local = torch.cat([pitch_taps(audio, periods, lags)[..., :n], extra], 1)
    with torch.no_grad():
        mean = model(audio[:, :n], local)[:, 0]
    assert (mean.clamp(-1, 1) - g).abs().max() <= 1e-4
    assert g.abs().sum() > 0


def test_wrong_conditioning_width_is_refused():
    model = WaveNet(WaveNetConfig(layers=2, residual_channels=4, gate_channels=4, skip_channels=4,
                                  head="gaussian", local_channels=3, cond_kernel=1, hop_length=1))
    with pytest.raises(ValueError, match="local_channels=6"):
        generate_with_pitch_taps(model, 8, 10, torch.zeros(1, 1, 10))


def test_one_stream_per_period_without_extra_channels():
    model = WaveNet(WaveNetConfig(layers=2, residual_channels=4, gate_channels=4, skip_channels=4,
                                  head="gaussian", local_channels=2, cond_kernel=1, hop_length=1))
    g = generate_with_pitch_taps(model, [5, 9, 13], 40, lags=(0, 1), temperature=0.0)
    assert g.shape == (3, 40)
