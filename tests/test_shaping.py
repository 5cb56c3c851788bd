"""The harmonic-plus-noise vocoder's second stage (wavedil/harmonic_noise/shaping.py): it starts
as the identity, a gain is applied exactly, its reach is bounded by the receptive field, it
learns a correction the first stage cannot make, and bad settings are refused."""

import math

import pytest
import torch

from wavedil.config import ConfigError
from wavedil.dsp.f0 import f0_features
from wavedil.harmonic_noise.model import HarmonicNoiseConfig, HarmonicNoiseNet
from wavedil.harmonic_noise.shaping import MAX_LOG_GAIN
from wavedil.train.spectral import multi_resolution_stft_loss

TINY = dict(local_channels=6, hop_length=32, sample_rate=8000, dilations=[1, 2],
            residual_channels=8, gate_channels=8, skip_channels=8, harmonics=20, noise_bands=8,
            n_fft=128)


def _frames(B: int, N: int, hz: float = 200.0) -> torch.Tensor:
    mel = 0.3 + 0.4 * torch.rand(B, 4, N)
    pair = f0_features(torch.full((N,), hz).numpy(), torch.full((N,), True).numpy())  # (2, N)
    return torch.cat([mel, pair[None].expand(B, -1, -1)], dim=1)


def _pair(seed: int = 0) -> tuple[HarmonicNoiseNet, HarmonicNoiseNet]:
    """A shaped model and the same first stage without the second."""
    torch.manual_seed(seed)
    shaped = HarmonicNoiseNet(HarmonicNoiseConfig(**TINY, shaping_dilations=[1, 2],
                                                  shaping_channels=8))
    plain = HarmonicNoiseNet(HarmonicNoiseConfig(**TINY))
    plain.load_state_dict({k: v for k, v in shaped.state_dict().items()
                           if not k.startswith("shaper.")})
    return shaped, plain


def test_the_stage_starts_as_the_identity_and_applies_a_gain_exactly():
    shaped, plain = _pair()
    frames = _frames(2, 24)
    with torch.no_grad():
        first = plain(frames, generator=torch.Generator().manual_seed(1))
        same = shaped(frames, generator=torch.Generator().manual_seed(1))
        assert torch.allclose(same, first, atol=1e-6 * float(first.abs().max()))
        # a log gain of ln 2 on every bin and frame doubles the waveform, to the last sample
        shaped.shaper.out.bias.fill_(MAX_LOG_GAIN * math.atanh(math.log(2.0) / MAX_LOG_GAIN))
        double = shaped(frames, generator=torch.Generator().manual_seed(1))
    assert double.shape == first.shape == (2, 24 * 32)
    assert torch.allclose(double, 2 * first, atol=1e-5 * float(first.abs().max()))


def test_a_frame_reaches_no_further_than_the_receptive_field():
    """Changing one frame changes a span of samples that the config's receptive field bounds,
    and the second stage widens it beyond the first stage's (it reads its neighbours)."""
    shaped, plain = _pair(3)
    with torch.no_grad():
        for p in shaped.shaper.out.parameters():
            p.normal_(0.0, 0.1)
    frames = _frames(1, 80)
    other = frames.clone()
    other[:, :4, 40] += 0.2

    def span(model):
        with torch.no_grad():
            a = model(frames, noise=torch.zeros(1, 80 * 32))
            b = model(other, noise=torch.zeros(1, 80 * 32))
        changed = torch.nonzero((a - b).abs()[0] > 1e-7)[:, 0]
        return int(changed.max() - changed.min() + 1)

    assert span(plain) <= plain.config.receptive_field
    assert plain.config.receptive_field < shaped.config.receptive_field
    assert span(plain) < span(shaped) <= shaped.config.receptive_field


def test_the_stage_learns_a_correction_the_first_stage_does_not_make():
    """The target is the first stage's own output with its upper half-band 12 dB louder: the
    second stage alone (the first frozen) learns it, the loss falls to a fifth."""
    shaped, plain = _pair(5)
    frames = _frames(1, 48)
    noise = torch.randn(1, 48 * 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        spec = torch.fft.rfft(plain(frames, noise=noise))
        spec[:, spec.shape[-1] // 2:] *= 4.0
        target = torch.fft.irfft(spec, n=48 * 32)
    opt = torch.optim.Adam(shaped.shaper.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        loss = multi_resolution_stft_loss(shaped(frames, noise=noise), target, (256, 128, 64))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.2 * losses[0]


def test_settings_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="model.shaping_dilations needs model.causal: false"):
        HarmonicNoiseConfig(**TINY, shaping_dilations=[1], causal=True)
    with pytest.raises(ConfigError, match="shaping_dilations must be a list of integers >= 1"):
        HarmonicNoiseConfig(**TINY, shaping_dilations=[0])
    with pytest.raises(ConfigError, match="shaping_channels must be >= 1"):
        HarmonicNoiseConfig(**TINY, shaping_dilations=[1], shaping_channels=0)
    assert HarmonicNoiseNet(HarmonicNoiseConfig(**TINY)).shaper is None
