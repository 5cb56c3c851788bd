"""The inverse-STFT vocoder (wavedil/istft/model.py): its reference phase is a harmonic's own
STFT phase, silence stays silent, its reach is its receptive field, its random phases come
from the caller, and bad settings name their key."""

from __future__ import annotations

import math

import pytest
import torch

from wavedil.config import ConfigError
from wavedil.families import model_config
from wavedil.istft.model import IstftConfig, IstftNet

RATE, HOP = 16000, 64


def tiny(**kw) -> IstftNet:
    torch.manual_seed(0)
    return IstftNet(IstftConfig(local_channels=18, hop_length=HOP, sample_rate=RATE,
                                dilations=[1, 2], residual_channels=8, gate_channels=16,
                                skip_channels=8, **kw))


def frames_of(model: IstftNet, wave: torch.Tensor, f0: float) -> torch.Tensor:
    """The model's frames of ``wave`` (1, T): its mel bands, then log2(f0 / 150) and voicing 1."""
    mel = model.mel(wave)  # (1, n_mels, N)
    N = mel.shape[-1]
    return torch.cat([mel, torch.full((1, 1, N), math.log2(f0 / 150.0)), torch.ones(1, 1, N)], 1)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_the_harmonic_part_has_a_harmonics_stft_phase_and_peak(k):
    """cos(2 pi k f0 t) analysed by the features' STFT has, at the bin of k f0, the phase the
    harmonic part gives that bin (2 pi k Phi(n) - pi j) in every frame away from the edges, and
    a peak of the comb's shape (a Hann window's: half at one bin off, nothing at two)."""
    model = tiny()
    f0 = 312.5  # a whole number of bins (bin spacing 62.5 Hz), so k f0 sits on bin 5k
    t = torch.arange(4096, dtype=torch.float64) / RATE
    wave = torch.cos(2 * math.pi * k * f0 * t)[None].float()
    frames = frames_of(model, wave, f0)
    x = torch.nn.functional.pad(frames, (0, model.stft_frames(frames.shape[-1]) - frames.shape[-1]),
                                mode="replicate")
    comb, harm = model.harmonics(x)
    spec = model.mel.spectrum(wave)  # (1, bins, F)
    j = round(k * f0 / (RATE / model.config.fft_size))
    inner = slice(8, frames.shape[-1] - 8)  # frames whose windows hold no reflected edge
    got = spec[0, j, inner] / spec[0, j, inner].abs()
    assert torch.allclose(got, harm[0, j, inner], atol=2e-3)
    assert (got[1:] / got[:-1]).real.min() < 0.9  # a phase that turns: a constant fails this
    peak = model.mel.win_length * f0 / (2 * RATE)
    assert comb[0, j, 10].item() == pytest.approx(peak, rel=1e-5)
    assert comb[0, j + 1, 10].item() == pytest.approx(peak / 2, rel=1e-5)
    assert comb[0, j + 2, 10].item() == pytest.approx(0.0, abs=1e-6)
    # the STFT itself: a unit cosine (amplitude a = 1) peaks at a win / 4
    assert spec[0, j, 10].abs().item() == pytest.approx(model.mel.win_length / 4, rel=1e-3)


def test_digital_silence_stays_silent_and_the_output_covers_every_sample():
    model = tiny()
    frames = torch.zeros(2, 18, 12)
    frames[:, -2] = 0.3  # an f0 but every band at the floor
    assert torch.equal(model(frames), torch.zeros(2, 12 * HOP))
    wave = torch.randn(1, 40 * HOP) * 0.1
    y = model(frames_of(model, wave, 150.0))
    assert y.shape == (1, 40 * HOP) and y[:, -HOP:].abs().max() > 0  # the last hop is written


def test_a_frame_reaches_no_further_than_the_receptive_field():
    """Changing frame m changes output samples only within the receptive field around it."""
    model = tiny()
    wave = torch.randn(1, 48 * HOP) * 0.1
    frames = frames_of(model, wave, 150.0)
    noise = torch.rand(1, model.bins, model.stft_frames(48))
    m = 30
    other = frames.clone()
    other[:, :-2, m] += 0.2
    diff = (model(other, noise) - model(frames, noise)).abs()[0]
    changed = diff.nonzero()[:, 0]
    reach = model.receptive_field
    assert changed.numel() > 0
    assert changed.min() >= m * HOP - reach and changed.max() < m * HOP + reach


def test_random_phases_come_from_the_caller():
    model = tiny()
    frames = frames_of(model, torch.randn(1, 20 * HOP) * 0.1, 150.0)
    a = model(frames, generator=torch.Generator().manual_seed(1))
    b = model(frames, generator=torch.Generator().manual_seed(1))
    c = model(frames, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_without_a_reference_the_phase_is_the_networks_alone():
    model = tiny(phase_reference="none")
    frames = frames_of(model, torch.randn(1, 20 * HOP) * 0.1, 150.0)
    a = model(frames, generator=torch.Generator().manual_seed(1))
    b = model(frames, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)  # nothing random left


@pytest.mark.parametrize("values, message", [
    ({"phase_reference": "random"}, "IstftConfig.phase_reference must be one of harmonic, none"),
    ({"gate_channels": 7}, "IstftConfig.gate_channels must be even"),
    ({"kind": "harmonic_noise"}, "IstftConfig.kind must be istft"),
    ({"local_channels": 2}, "IstftConfig.local_channels must be >= 3"),
])
def test_bad_settings_name_their_key(values, message):
    with pytest.raises(ConfigError, match=message):
        IstftConfig(**values)


def test_a_model_section_of_kind_istft_builds_this_model():
    cfg = model_config({"kind": "istft", "local_channels": 18, "hop_length": 64})
    assert isinstance(cfg, IstftConfig) and IstftNet(cfg).bins == 129
