"""Mel-feature settings and presets: wavedil's default features unchanged, the HiFi-GAN and
Tacotron 2 conventions equal to a direct librosa computation of them, every log scaling
inverted exactly, presets that cannot be half-followed, and models that read the features
as the data makes them."""

import math

import librosa
import numpy as np
import pytest
import torch

from wavedil.dsp.audio import MEL_LOGS, LogMel
from wavedil.config import ConfigError
from wavedil.data import DataConfig
from wavedil.harmonic_noise.model import HarmonicNoiseConfig, HarmonicNoiseNet
from wavedil.dsp.mel import MEL_PRESETS
from wavedil.dsp.metrics import griffin_lim
from wavedil.train.recipe import recipe_from_dict


def _speechlike(rate: int, seconds: float = 0.6) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    y = sum(np.sin(k * phase) / k for k in range(1, 30)) * np.hanning(t.size)
    return (0.3 * y + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


def test_the_default_features_are_unchanged():
    import torchaudio.transforms as AT

    wave = torch.from_numpy(_speechlike(16000))
    old = AT.MelSpectrogram(16000, n_fft=1024, hop_length=256, n_mels=80, power=1.0, center=True)
    frames = wave.numel() // 256
    want = (20 * torch.log10(old(wave)[..., :frames].clamp(min=1e-5)) + 100) / 100
    got = DataConfig().log_mel()(wave)
    assert got.shape == (80, frames)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("preset", ["hifigan", "tacotron2"])
def test_presets_equal_a_direct_librosa_computation(preset):
    p = MEL_PRESETS[preset]
    y = _speechlike(p["sample_rate"])
    n_fft, hop = p["n_fft"], p["hop_length"]
    if p["mel_padding"] == "overlap":  # HiFi-GAN's meldataset: reflect (n_fft - hop) / 2, no centring
        pad = (n_fft - hop) // 2
        spec = np.abs(librosa.stft(np.pad(y, (pad, pad), mode="reflect"), n_fft=n_fft,
                                   hop_length=hop, win_length=p["win_length"], window="hann",
                                   center=False))
    else:  # Tacotron 2: centred frames on reflected padding
        spec = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=p["win_length"],
                                   window="hann", center=True, pad_mode="reflect"))
    basis = librosa.filters.mel(sr=p["sample_rate"], n_fft=n_fft, n_mels=80, fmin=p["f_min"],
                                fmax=p["f_max"])  # librosa's defaults: Slaney scale and norm
    frames = y.size // hop
    want = np.log(np.maximum(basis @ spec, 1e-5))[:, :frames]
    data = DataConfig(mel_preset=preset)
    got = data.log_mel()(torch.from_numpy(y)).numpy()
    assert got.shape == want.shape == (80, frames)
    np.testing.assert_allclose(got, want, atol=5e-5, rtol=0)  # 9e-6 measured
    assert data.sample_rate == 22050 and data.n_fft == 1024 and data.mel_log == "ln"


@pytest.mark.parametrize("log", MEL_LOGS)
def test_every_log_scaling_is_inverted(log):
    lm = LogMel(16000, 64, 8, 256, log=log, floor=1e-4)
    mel = torch.tensor([1e-6, 1e-4, 0.01, 1.0, 3.0], dtype=torch.float64)
    feats = lm.compress(mel)
    back = lm.log_magnitudes(feats)
    torch.testing.assert_close(back, torch.log(mel.clamp(min=1e-4)), atol=1e-12, rtol=0)
    assert float(feats[0]) == pytest.approx(lm.floor_feature, abs=1e-12)
    np.testing.assert_allclose(lm.magnitudes(feats.numpy()), mel.clamp(min=1e-4).numpy(), rtol=1e-12)


def test_a_preset_cannot_be_half_followed():
    with pytest.raises(ConfigError, match=r"DataConfig.n_fft is 512, but mel_preset hifigan sets "
                                          r"it to 1024; give one or the other"):
        DataConfig(mel_preset="hifigan", n_fft=512)
    with pytest.raises(ConfigError, match="mel_preset must be null or one of hifigan, tacotron2"):
        DataConfig(mel_preset="hifi")
    # what a checkpoint stores rebuilds the same config
    data = DataConfig(mel_preset="hifigan")
    assert DataConfig.from_dict(data.to_dict()) == data
    with pytest.raises(ConfigError, match="DataConfig.mel_log must be one of db01, ln, log10"):
        DataConfig(mel_log="log2")
    with pytest.raises(ConfigError, match=r"DataConfig.f_max must be null or a number in \(f_min"):
        DataConfig(f_max=9000)


def test_recipes_give_the_model_the_datas_mel_settings():
    data = {"path": "embedded", "mel_preset": "hifigan", "f0": True}
    r = recipe_from_dict({"model": {"kind": "harmonic_noise", "hop_length": 256,
                                    "local_channels": 82}, "data": data})
    assert r.model.mel_settings() == r.data.mel_settings()
    assert r.model.mel_log == "ln" and r.model.fft_size == 1024 and r.model.sample_rate == 22050
    with pytest.raises(ConfigError, match=r"model.mel_scale must be data.mel_scale \('slaney'"):
        recipe_from_dict({"model": {"kind": "harmonic_noise", "hop_length": 256,
                                    "local_channels": 82, "mel_scale": "htk"}, "data": data})
    r = recipe_from_dict({"model": {"kind": "wavenet", "hop_length": 256, "local_channels": 82,
                                    "f0_input": True, "head": "gaussian", "lpc_order": 8},
                          "data": data})
    assert r.model.log_mel().settings() == r.data.log_mel().settings() | {"mel_padding": "centre"}


def test_a_vocoder_on_hifigan_features_inverts_them():
    data = DataConfig(mel_preset="hifigan", n_mels=80)
    y = _speechlike(22050)
    mel = data.log_mel()(torch.from_numpy(y))  # (80, N), ln magnitudes
    # Griffin-Lim through the same extractor comes back close to the original's mel
    g = griffin_lim(mel.numpy(), 22050, 256, 1024, mel=data.log_mel(), n_iter=16)
    with pytest.raises(ValueError, match="f_max 7000.0 disagree with mel's 0.0, 8000.0"):
        griffin_lim(mel.numpy(), 22050, 256, 1024, f_max=7000.0, mel=data.log_mel(), n_iter=1)
    with pytest.raises(ValueError, match="griffin_lim: mel is 80 bands, n_fft 1024, hop 256"):
        griffin_lim(mel.numpy(), 22050, 128, 1024, mel=data.log_mel(), n_iter=1)
    assert g.shape == (mel.shape[1] * 256,)
    again = data.log_mel()(torch.from_numpy(g))
    loud = mel > math.log(1e-3)
    assert float((again - mel)[loud].abs().mean()) < 0.5  # nats
    # the untrained harmonic-plus-noise model hears digital silence in ln units as silence
    cfg = HarmonicNoiseConfig(hop_length=256, local_channels=82, sample_rate=22050,
                              **data.mel_settings(), n_fft=1024)
    net = HarmonicNoiseNet(cfg).eval()
    frames = torch.full((1, 82, 6), math.log(1e-5))
    frames[:, 80] = 0.0  # log2(f0 / 150 Hz): 150 Hz
    frames[:, 81] = 1.0  # voiced
    with torch.no_grad():
        assert float(net(frames).abs().max()) == 0.0
        sound = frames.clone()
        sound[:, :80] = mel[:, :6]
        assert float(net(sound).abs().max()) > 1e-3


def _tacotron2_checkpoint(path):
    from wavedil import WaveNet, WaveNetConfig, save_checkpoint
    from wavedil.wavenet.generate import GenerateConfig

    torch.manual_seed(0)
    data = DataConfig(mel_preset="tacotron2")
    model = WaveNet(WaveNetConfig(layers=2, kernel_size=2, residual_channels=4, gate_channels=4,
                                  skip_channels=4, classes=16, local_channels=80, cond_channels=4,
                                  hop_length=256, sample_rate=22050, **data.mel_settings(),
                                  n_fft=1024))
    return save_checkpoint(path, model, data=data, generate=GenerateConfig(engine="torch"))


def test_features_command_writes_what_generate_reads(tmp_path):
    import soundfile as sf
    from typer.testing import CliRunner

    from wavedil.checkpoint import load_model
    from wavedil.cli import app

    runner = CliRunner()
    ckpt = _tacotron2_checkpoint(tmp_path / "t2.pt")
    y = _speechlike(22050, 0.2)
    sf.write(tmp_path / "a.wav", y, 22050, subtype="FLOAT")
    r = runner.invoke(app, ["features", str(tmp_path / "a.wav"), "-o", str(tmp_path / "a.npy"),
                            "--checkpoint", str(ckpt)])
    assert r.exit_code == 0, r.output
    frames = np.load(tmp_path / "a.npy")
    # Tacotron 2's features of the peak-normalised file, computed directly
    z = y * (0.95 / np.abs(y).max())
    spec = np.abs(librosa.stft(z, n_fft=1024, hop_length=256, center=True, pad_mode="reflect"))
    basis = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)
    want = np.log(np.maximum(basis @ spec, 1e-5))[:, :y.size // 256]
    assert frames.shape == want.shape and frames.dtype == np.float32
    np.testing.assert_allclose(frames, want, atol=5e-5, rtol=0)
    r = runner.invoke(app, ["generate", str(ckpt), "--mel", str(tmp_path / "a.npy"), "-o",
                            str(tmp_path / "a-out.wav"), "--temperature", "0"])
    assert r.exit_code == 0, r.output
    assert sf.info(str(tmp_path / "a-out.wav")).frames == frames.shape[1] * 256
    # info and the export metadata state every setting a front end needs
    r = runner.invoke(app, ["info", str(ckpt)])
    assert "mel_scale=slaney" in r.stdout and "mel_log=ln" in r.stdout and "f_max=8000.0" in r.stdout
    from wavedil.dsp.mel import feature_settings

    settings = feature_settings(load_model(ckpt).data)
    assert settings["mel_preset"] == "tacotron2" and settings["n_fft"] == 1024
    assert settings["win_length"] == 1024 and settings["mel_padding"] == "centre"
    # mistakes: one line, exit 2, nothing written
    for args, text in (([str(tmp_path / "a.wav"), "-o", str(tmp_path / "a.npy")], "exists"),
                       ([str(tmp_path / "a.wav"), "-o", str(tmp_path / "b.txt")], ".npy file"),
                       ([str(tmp_path / "none.wav"), "-o", str(tmp_path / "c.npy")], "no such")):
        r = runner.invoke(app, ["features", *args, "--checkpoint", str(ckpt)])
        assert r.exit_code == 2 and text in r.stderr and r.stderr.count("\n") == 1, r.output
    assert not (tmp_path / "c.npy").exists() and not (tmp_path / "b.txt").exists()


def test_overlap_framing_gives_t_over_hop_frames_for_any_hop():
    for hop, n_fft in ((256, 1024), (255, 1024), (275, 1024), (64, 257)):
        data = DataConfig(hop_length=hop, n_fft=n_fft, mel_padding="overlap", n_mels=16,
                          sample_rate=22050)
        for T in (hop * 40, hop * 40 + hop - 1):
            assert data.log_mel()(torch.randn(T)).shape == (16, T // hop), (hop, n_fft, T)


def test_audio_too_short_for_the_analysis_is_named():
    with pytest.raises(ValueError, match=r"LogMel: 200 samples are too few for the mel analysis "
                                         r"\(more than 512 needed: n_fft 1024, hop 256\)"):
        DataConfig().log_mel()(torch.randn(200))
