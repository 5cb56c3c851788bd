"""Mel-consistent refinement (wavedil.dsp.refine): a signal that already has its features is left
alone, any other moves towards them, silence stays silent, every framing of LogMel works, and
generate and evaluate run it from a recipe's generate.refine or --refine."""

import numpy as np
import pytest
import soundfile as sf
import torch

from wavedil.dsp.audio import LogMel
from wavedil.dsp.refine import mel_refine

RATE = 16000
FRAMINGS = [{}, {"padding": "overlap"}, {"win_length": 192}, {"log": "ln", "mel_scale": "slaney",
                                                               "mel_norm": "slaney"}]


def voice(seconds=0.5, f0=150.0, seed=0):
    """A harmonic tone with a vibrato and a little noise: (1, T) float32."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * torch.cumsum(f0 * (1 + 0.02 * torch.sin(2 * np.pi * 5 * t)), 0) / RATE
    wave = sum(torch.sin(k * phase) / k for k in range(1, 12)) * 0.2
    return (wave + 0.01 * torch.randn(t.shape, generator=g))[None].float()


def mel_error(mel, wave, features):
    """Mean |difference| of the log-mel frames (the features' units)."""
    return float((mel(wave)[..., :features.shape[-1]] - features).abs().mean())


@pytest.mark.parametrize("framing", FRAMINGS)
def test_spectrum_and_overlap_add_invert_each_other(framing):
    mel = LogMel(RATE, 64, 20, 256, **framing)
    for T in (4000, 4000 + 37):
        x = torch.randn(2, T, dtype=torch.float64)
        spec = mel.spectrum(x)
        assert spec.shape[:2] == (2, 129) and spec.shape[-1] > T // 64
        torch.testing.assert_close(mel.overlap_add(spec, T), x, atol=1e-10, rtol=0)
        # the first T // hop frames are the features' frames
        feats = mel.compress(torch.matmul(mel.fb.double(), spec.abs()[..., :T // 64]))
        torch.testing.assert_close(feats.float(), mel(x.float()), atol=2e-5, rtol=0)


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_signal_with_its_own_features_is_left_alone(framing):
    mel = LogMel(RATE, 64, 20, 256, **framing)
    x = voice()
    y = mel_refine(x, mel(x), mel, 8)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float((y - x).abs().max()) < 1e-3 * float(x.abs().max())


@pytest.mark.parametrize("framing", FRAMINGS)
def test_passes_move_the_mel_to_the_features(framing):
    mel = LogMel(RATE, 64, 20, 256, **framing)
    target = mel(voice(f0=150.0))
    start = voice(f0=150.0, seed=1) * torch.linspace(0.3, 1.5, 8000)  # wrong loudness contour
    errors = [mel_error(mel, mel_refine(start, target, mel, n), target) for n in (0, 4, 32)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.25 * errors[0]
    # momentum 0 (plain projections) also converges, more slowly
    plain = mel_error(mel, mel_refine(start, target, mel, 32, momentum=0.0), target)
    assert errors[2] < plain < errors[0]


def test_the_fine_structure_comes_from_the_start():
    """Inside a band the start's harmonics stay: refining a 150 Hz tone towards the mel of a
    152 Hz one keeps its spectral peaks at multiples of 150 Hz."""
    mel = LogMel(RATE, 64, 20, 256)
    y = mel_refine(voice(f0=150.0, seed=1), mel(voice(f0=152.0)), mel, 16)[0].numpy()
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    freqs = np.fft.rfftfreq(y.size, 1 / RATE)
    peak = freqs[np.argmax(np.where((freqs > 100) & (freqs < 200), spectrum, 0))]
    assert abs(peak - 150.0) < 3.0


def test_silent_frames_stay_silent_and_nothing_is_nan():
    mel = LogMel(RATE, 64, 20, 256)
    noise = 0.1 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))
    silent = mel(torch.zeros(1, 8000))  # every band at the floor
    y = mel_refine(noise, silent, mel, 8)[:, :-256]  # the last window reaches unconstrained frames
    assert float(y.pow(2).mean().sqrt()) < 0.005 * float(noise.pow(2).mean().sqrt())
    z = mel_refine(torch.zeros(1, 8000), mel(voice()), mel, 8)  # nothing to scale
    assert torch.isfinite(z).all() and float(z.abs().max()) == 0.0


def test_bad_arguments_raise():
    mel = LogMel(RATE, 64, 20, 256)
    x = voice()
    with pytest.raises(ValueError, match="expected wave"):
        mel_refine(x[0], mel(x), mel, 4)
    with pytest.raises(ValueError, match="bands"):
        mel_refine(x, mel(x)[:, :10], mel, 4)
    with pytest.raises(ValueError, match="iterations"):
        mel_refine(x, mel(x), mel, -1)
    with pytest.raises(ValueError, match="momentum"):
        mel_refine(x, mel(x), mel, 4, momentum=1.0)
    assert mel_refine(x, mel(x), mel, 0) is x
    short = x[:, :100]  # shorter than the analysis' padding: nothing to refine towards
    assert mel_refine(short, mel(x), mel, 4) is short


def test_generate_and_evaluate_refine(tmp_path):
    from test_evaluate import write_checkpoint

    from wavedil.checkpoint import load_model
    from wavedil.evaluate import evaluate
    from wavedil.wavenet.generate import GenerateConfig
    from wavedil.synthesis import synthesize

    ckpt = write_checkpoint(tmp_path / "tiny.pt")
    wav = tmp_path / "in" / "a.wav"
    wav.parent.mkdir()
    sf.write(wav, voice(0.3)[0].numpy(), RATE)
    loaded = load_model(ckpt)
    mel = loaded.data.log_mel()
    feats = loaded.features(torch.from_numpy(sf.read(wav, dtype="float32")[0]))
    errors = {}
    for passes in (0, 16):
        out = synthesize(ckpt, tmp_path / f"r{passes}.wav", from_wav=wav, seed=1, refine=passes)
        made = torch.from_numpy(sf.read(out.files[0], dtype="float32")[0])[None]
        errors[passes] = mel_error(mel, made, feats[None])
    assert errors[16] < 0.5 * errors[0]  # an untrained WaveNet's noise, refined
    with pytest.raises(ValueError, match="--refine must be >= 0"):
        synthesize(ckpt, tmp_path / "bad.wav", from_wav=wav, refine=-2)
    report = evaluate(ckpt, wav.parent, out=tmp_path / "eval", refine=16)
    assert report.refine == 16
    assert report.systems == ["wavedil", "wavedil unrefined", "griffin-lim", "griffin-lim refined"]
    assert {p.name for p in (tmp_path / "eval").glob("*.wav")} == {
        "a.wavedil.wav", "a.wavedil-unrefined.wav", "a.griffin-lim.wav", "a.griffin-lim-refined.wav"}
    bare = evaluate(ckpt, wav.parent, refine=0)
    assert bare.systems == ["wavedil", "griffin-lim"]
    # one generation: the unrefined system is what refine=0 scores
    assert report.means["wavedil unrefined"] == bare.means["wavedil"]
    assert report.means["wavedil"]["log_mel_db"] < bare.means["wavedil"]["log_mel_db"]
    assert report.means["griffin-lim refined"] != report.means["griffin-lim"]
    uncond = write_checkpoint(tmp_path / "uncond.pt", local_channels=0)
    with pytest.raises(ValueError, match="mel-conditioned"):
        synthesize(uncond, tmp_path / "u.wav", samples=200, refine=4)
    with pytest.raises(ValueError, match="refine_momentum"):
        GenerateConfig(refine_momentum=1.5)
    with pytest.raises(ValueError, match="refine"):
        GenerateConfig(refine=-1)
