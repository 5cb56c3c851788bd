"""The harmonic-plus-noise vocoder: shapes, config checks, causality over frames when asked,
reproducible noise, and a model that learns a harmonic signal's spectrum."""

import math

import pytest
import torch

from wavedil.dsp.audio import LogMel
from wavedil.config import ConfigError
from wavedil.dsp.f0 import f0_features
from wavedil.harmonic_noise.model import HarmonicNoiseConfig, HarmonicNoiseNet
from wavedil.families import build_model, model_config
from wavedil.train.spectral import multi_resolution_stft_loss


def _tiny(**kw) -> HarmonicNoiseNet:
    cfg = dict(local_channels=6, hop_length=32, sample_rate=8000, dilations=[1, 2], residual_channels=8,
               gate_channels=8, skip_channels=8, harmonics=20, noise_bands=8)
    return HarmonicNoiseNet(HarmonicNoiseConfig(**{**cfg, **kw}))


def _frames(B: int, N: int, hz: float = 200.0, voiced: bool = True) -> torch.Tensor:
    mel = torch.rand(B, 4, N)
    f0 = torch.full((N,), hz)
    pair = f0_features(f0.numpy(), torch.full((N,), voiced).numpy())  # (2, N)
    return torch.cat([mel, pair[None].expand(B, -1, -1)], dim=1)


def test_frames_become_hop_samples_each_and_the_noise_is_reproducible():
    torch.manual_seed(0)
    model = _tiny().eval()
    frames = _frames(2, 10)
    a = model(frames, generator=torch.Generator().manual_seed(3))
    b = model(frames, generator=torch.Generator().manual_seed(3))
    assert a.shape == (2, 320) and torch.equal(a, b)
    with torch.no_grad():
        ctl = model.controls(frames)
    assert ctl["amplitudes"].shape == (2, 20, 10) and ctl["noise"].shape == (2, 8, 10)
    # harmonics at or above rate / 2 are silent: 200 Hz * 20 = 4000 Hz = Nyquist
    assert float(ctl["amplitudes"][:, 19:].abs().max()) == 0.0
    assert float(ctl["amplitudes"][:, :19].min()) > 0.0 and float(ctl["noise"].min()) > 0.0
    assert torch.allclose(ctl["f0"], torch.full((2, 10), 200.0), rtol=1e-5)


def test_phases_start_in_cosine_phase_and_keep_the_amplitudes():
    # model.phases: one more output per harmonic sets its phase; built, it is pi / 2 everywhere,
    # so the (sin, cos) amplitudes are (0, a) with a the plain model's amplitude
    torch.manual_seed(0)
    plain = _tiny().eval()
    torch.manual_seed(0)
    phased = _tiny(phases=True).eval()
    assert phased.out.out_channels == plain.out.out_channels + 20
    frames = _frames(2, 10)
    with torch.no_grad():
        phased.out.weight[:28].copy_(plain.out.weight)
        phased.out.bias[:28].copy_(plain.out.bias)
        a, b = plain.controls(frames), phased.controls(frames)
    assert torch.allclose(b["quadrature"], a["amplitudes"], rtol=1e-5, atol=1e-7)
    assert b["amplitudes"].abs().max() < 1e-6 * a["amplitudes"].abs().max()
    noise = torch.randn(2, 320)
    wave = phased(frames, noise)
    assert wave.shape == (2, 320) and torch.isfinite(wave).all()
    assert not torch.allclose(wave, plain(frames, noise))  # cosine, not sine, phase


def test_a_causal_vocoder_reads_no_frame_after_the_next():
    torch.manual_seed(0)
    model = _tiny(causal=True).eval()
    frames = _frames(1, 12)
    changed = frames.clone()
    changed[..., 8:, ] += torch.randn(1, 6, 4)
    noise = torch.randn(1, 12 * 32)
    a, b = model(frames, noise), model(changed, noise)
    # samples of frame n read frames <= n + 1 (the interpolation toward the next frame); the
    # noise STFT's frames span two hops, so its samples of frame 6 read frame 7's gains too
    assert torch.equal(a[:, :6 * 32], b[:, :6 * 32])
    assert not torch.equal(a[:, 7 * 32:], b[:, 7 * 32:])


@pytest.mark.parametrize("causal", [False, True])
def test_smoothing_averages_the_gains_over_frames_and_keeps_causality(causal):
    torch.manual_seed(0)
    plain = _tiny(causal=causal).eval()
    smooth = _tiny(causal=causal, smoothing=5).eval()
    smooth.load_state_dict(plain.state_dict())
    steady = _frames(1, 1)[..., [0] * 40]  # one frame repeated: the average changes nothing
    inner = slice(12, 28)  # away from the blocks' zero padding at the ends
    with torch.no_grad():
        a, b = plain.controls(steady), smooth.controls(steady)
        assert torch.allclose(a["amplitudes"][..., inner], b["amplitudes"][..., inner], rtol=1e-5)
        assert torch.allclose(a["noise"][..., inner], b["noise"][..., inner], rtol=1e-5)
        ripple = steady.clone()
        ripple[:, :4, 1::2] += 0.3  # every other frame louder in every band
        a, b = plain.controls(ripple), smooth.controls(ripple)
    zigzag = [(torch.log(c["amplitudes"][:, :19])[..., inner].diff(dim=-1)).abs().mean() for c in (a, b)]
    assert zigzag[1] < 0.3 * zigzag[0]
    frames = _frames(1, 12)
    changed = frames.clone()
    changed[..., 8:] += torch.randn(1, 6, 4)
    with torch.no_grad():
        c0, c1 = smooth.controls(frames)["amplitudes"], smooth.controls(changed)["amplitudes"]
    if causal:  # the past-only average reads no later frame
        assert torch.equal(c0[..., :8], c1[..., :8])
    else:  # the centred one reaches (smoothing - 1) / 2 = 2 frames further back than the blocks
        rf = smooth.config.receptive_field_frames
        assert rf == plain.config.receptive_field_frames + 4
        reach = (rf - 1) // 2
        assert torch.equal(c0[..., :8 - reach], c1[..., :8 - reach])
        assert not torch.equal(c0[..., 8 - reach], c1[..., 8 - reach])
    with pytest.raises(ConfigError, match="smoothing must be >= 1"):
        HarmonicNoiseConfig(smoothing=0)


def test_config_checks_and_kinds():
    with pytest.raises(ConfigError, match="local_channels must be >= 3"):
        HarmonicNoiseConfig(local_channels=2)
    with pytest.raises(ConfigError, match="kind must be harmonic_noise"):
        HarmonicNoiseConfig(kind="wavenet")
    cfg = model_config({"kind": "harmonic_noise", "local_channels": 6, "harmonics": 4})
    assert isinstance(cfg, HarmonicNoiseConfig) and isinstance(build_model(cfg), HarmonicNoiseNet)
    with pytest.raises(ConfigError, match="model.kind must be one of wavenet, harmonic_noise, istft, effect"):
        model_config({"kind": "gan"})
    assert HarmonicNoiseConfig(hop_length=256, dilations=[1, 2, 4]).receptive_field == (15 + 1) * 256


def test_the_vocoder_learns_a_harmonic_signal_spectrum():
    """A few dozen steps of the STFT loss on a voiced signal with a fixed spectral envelope:
    the loss falls to a third, and the harmonics come out at the frames' f0."""
    torch.manual_seed(0)
    rate, hop, N = 8000, 32, 64
    t = torch.arange(N * hop) / rate
    target = sum((0.5 / k) * torch.sin(2 * math.pi * 250 * k * t + k) for k in range(1, 9))[None]
    model = _tiny(sample_rate=rate)
    frames = _frames(1, N, hz=250.0)
    frames[:, :4] = LogMel(rate, hop, n_mels=4)(target)  # the target's own (coarse) mel
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = multi_resolution_stft_loss(model(frames), target, (256, 128, 64))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.35 * losses[0]
    with torch.no_grad():
        out = model(frames, generator=torch.Generator().manual_seed(0))[0]
    spec = torch.fft.rfft(out * torch.hann_window(out.numel()))
    freqs = torch.fft.rfftfreq(out.numel(), 1 / rate)
    assert abs(float(freqs[spec.abs().argmax()]) - 250.0) < 10.0


def test_one_band_frames_give_a_flat_envelope():
    """A loudness contour (one mel band, recipes/pitch_harmonic.yaml) is a flat envelope: every
    harmonic starts at the same level, scaled by the band."""
    torch.manual_seed(0)
    model = HarmonicNoiseNet(HarmonicNoiseConfig(local_channels=3, hop_length=64, n_fft=256,
                                                 dilations=[1], harmonics=8, noise_bands=4))
    frames = _frames(1, 6)[:, 3:]  # (1, 1 + 2, 6): one band from _frames' first
    frames = torch.cat([torch.full((1, 1, 6), 0.5), frames[:, 1:]], dim=1)
    level = model.log_envelope(frames, torch.tensor([[[100.0] * 6, [3000.0] * 6]]))
    assert level.shape == (1, 2, 6) and torch.equal(level[:, 0], level[:, 1])
    louder = frames.clone()
    louder[:, 0] = 0.6  # +10 dB
    gain = model.log_envelope(louder, torch.full((1, 1, 6), 500.0)) - level[:, :1]
    assert torch.allclose(gain, torch.full_like(gain, math.log(10 ** 0.5)), atol=1e-5)
    assert model(frames).shape == (1, 6 * 64)


def test_frames_at_the_log_mel_floor_are_silent():
    """Digital silence in (every band at LogMel's -100 dB floor) is digital silence out, away
    from the ramp into the first sounding frame."""
    torch.manual_seed(0)
    model = _tiny().eval()
    frames = _frames(1, 12)
    frames[:, :4, :6] = 0.0  # frames 0..5 silent
    with torch.no_grad():
        out = model(frames, generator=torch.Generator().manual_seed(0))
    assert float(out[:, :5 * 32].abs().max()) == 0.0
    assert float(out[:, 7 * 32:].abs().max()) > 0.0


def test_the_recipe_chooses_the_spectral_loss_resolutions():
    """train.stft_sizes reaches the vocoder's loss (and is checked): the objective of a recipe
    with sizes [512, 256] is the loss at exactly those sizes, not at the default six."""
    from wavedil.train.objective import Objective
    from wavedil.train.recipe import TrainConfig
    from wavedil.train.spectral import FFT_SIZES

    model = _tiny(sample_rate=8000)
    frames = _frames(2, 64, hz=200.0)
    audio = torch.randn(2, 64 * model.config.hop_length) * 0.1
    batch = {"mel": frames, "audio": audio}
    objective = Objective.for_config(model.config, 0, TrainConfig(stft_sizes=[512, 256]))
    got = objective.loss(model, batch, generator=torch.Generator().manual_seed(1))
    est = model(frames, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(got, multi_resolution_stft_loss(est, audio, (512, 256)))
    assert not torch.allclose(got, multi_resolution_stft_loss(est, audio, FFT_SIZES))
    assert TrainConfig().stft_sizes == list(FFT_SIZES)
    with pytest.raises(ConfigError, match="stft_sizes must be a non-empty list of powers of two"):
        TrainConfig(stft_sizes=[1000])
    for bad in ([], 512, [512, "256"], [8]):
        with pytest.raises(ConfigError, match="stft_sizes"):
            TrainConfig(stft_sizes=bad)
