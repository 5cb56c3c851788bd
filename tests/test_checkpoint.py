"""One checkpoint format: a model saved outside a run and an older trainer checkpoint both load
with their settings; other shapes and newer versions are refused in one line; loading needs no
training code."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from wavedil import GenerateConfig, WaveNet, WaveNetConfig, load_checkpoint, load_model, save_checkpoint
from wavedil.data import DataConfig
from wavedil.synthesis import describe

ROOT = Path(__file__).resolve().parents[1]
DATA = DataConfig(sample_rate=8000, hop_length=16, n_mels=8, peak=0.5)


def mel_model(seed: int) -> WaveNet:
    torch.manual_seed(seed)
    return WaveNet(WaveNetConfig(layers=4, cycle_length=2, kernel_size=3, residual_channels=8,
                                 gate_channels=16, skip_channels=16, classes=64, local_channels=8,
                                 cond_channels=8, hop_length=16)).eval()


def logits(model: WaveNet) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 64, (2, 40), generator=g)
    return model(x, torch.rand(2, 8, 3, generator=g))  # (2, 64, 40)


def test_a_model_saved_outside_a_run_loads_with_its_settings(tmp_path):
    model, ema = mel_model(0), mel_model(1)
    path = save_checkpoint(tmp_path / "m.pt", model, data=DATA, generate=GenerateConfig(seconds=3.0),
                           ema=ema, name="tiny", step=5)
    ckpt = load_checkpoint(path)
    assert (ckpt["format"], ckpt["version"]) == ("wavedil", 1)
    assert set(ckpt["recipe"]) == {"data", "model", "generate"}
    loaded = load_model(path)
    assert torch.equal(logits(loaded.model), logits(ema)) and not loaded.model.training
    assert torch.equal(logits(load_model(path, ema=False).model), logits(model))
    assert loaded.config == model.config and loaded.data == DATA and loaded.generate.seconds == 3.0
    assert (loaded.name, loaded.step, loaded.best_val, loaded.speakers) == ("tiny", 5, None, [])
    assert loaded.sample_rate == 8000
    # features: the training pipeline's normalisation, then its log-mel
    wave = 0.1 * torch.sin(torch.arange(800) / 5.0)  # (800,)
    mel = loaded.features(wave)
    assert mel.shape == (8, 50)
    assert torch.allclose(mel, DATA.log_mel()(wave * (0.5 / float(wave.abs().max()))))
    assert not torch.allclose(mel, DATA.log_mel()(wave))


def test_features_of_an_f0_model_carry_log_f0_and_voicing(tmp_path):
    """LoadedModel.features is data.frame_features of the normalised wave: the mel bands as
    before, then log2(f0 / 150 Hz) and voicing, which the model takes as local channels."""
    data = DataConfig(sample_rate=8000, hop_length=16, n_mels=8, peak=0.5, f0=True, f0_min=100.0,
                      f0_max=400.0)
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers=4, cycle_length=2, kernel_size=3, residual_channels=8,
                                  gate_channels=16, skip_channels=16, classes=64, local_channels=10,
                                  f0_input=True, cond_channels=8, hop_length=16, sample_rate=8000))
    loaded = load_model(save_checkpoint(tmp_path / "f0.pt", model, data=data))
    assert loaded.data.f0 and loaded.config.mel_channels == 8
    wave = 0.1 * torch.sin(2 * torch.pi * 250.0 * torch.arange(2400) / 8000)  # (2400,), 250 Hz
    feats = loaded.features(wave)
    assert feats.shape == (10, 150) == (data.feature_channels, 2400 // 16)
    normalised = wave * (0.5 / float(wave.abs().max()))
    assert torch.allclose(feats[:8], DATA.log_mel()(normalised))
    assert torch.equal(feats, data.frame_features(normalised))
    inner = feats[:, 10:-10]
    assert (inner[9] == 1).all()  # voiced, at 250 Hz
    assert torch.allclose(150.0 * 2.0 ** inner[8], torch.tensor(250.0), rtol=0.02)
    x = torch.randint(0, 64, (1, 160))
    assert loaded.model(x, feats[None, :, :10]).shape == (1, 64, 160)


def test_an_older_trainer_checkpoint_still_loads(tmp_path):
    """The trainer's dict before the format had a version, written by plain torch.save."""
    model, ema = mel_model(0), mel_model(1)
    old = {
        "format": "wavedil-checkpoint-1",
        "recipe": {"data": DATA.to_dict(), "model": model.config.to_dict(),
                   "train": {"steps": 40, "batch_size": 4, "lr": 0.003},
                   "generate": {"seconds": 2.0, "temperature": 0.9, "engine": "torch",
                                "batch_size": 1, "seed": 0}},
        "name": "old", "model": model.state_dict(), "ema": ema.state_dict(),
        "optimizer": {"state": {}, "param_groups": []}, "scheduler": {}, "scaler": None,
        "step": 40, "best_val": 3.5, "best_step": 40, "last_val": 3.6, "untrained_val": 8.0,
        "rng": {"torch": torch.get_rng_state()}, "speakers": ["a", "b"],
    }
    path = tmp_path / "old.pt"
    torch.save(old, path)
    loaded = load_model(path)
    assert torch.equal(logits(loaded.model), logits(ema))
    assert (loaded.name, loaded.step, loaded.best_val, loaded.last_val, loaded.untrained_val,
            loaded.speakers) == ("old", 40, 3.5, 3.6, 8.0, ["a", "b"])
    assert loaded.generate == GenerateConfig(temperature=0.9, engine="torch")
    d = describe(path)
    assert (d["name"], d["step"], d["best_val_bits"], d["sample_rate"]) == ("old", 40, 3.5, 8000)


@pytest.mark.parametrize("content,match", [
    ({"config": {"layers": 4}, "model": {}}, "not a wavedil checkpoint"),
    ({"format": "wavedil", "version": 2, "recipe": {}, "model": {}}, "'wavedil' version 2"),
    ({"format": "other", "version": 1, "recipe": {}, "model": {}}, "'other' version 1"),
])
def test_other_shapes_and_newer_versions_are_refused_in_one_line(tmp_path, content, match):
    path = tmp_path / "x.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=match) as e:
        load_model(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_settings_that_build_no_model_are_a_value_error(tmp_path):
    model = mel_model(0)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model, data=DATA))
    ckpt["recipe"]["model"]["kernel_sise"] = 3
    with pytest.raises(ValueError, match="kernel_sise"):
        load_model(ckpt)


def test_loading_and_generating_import_no_training_code():
    code = ("import sys; import wavedil.synthesis, wavedil.export, wavedil.wavenet.generate, "
            "wavedil.checkpoint, wavedil.plots, wavedil; "
            "print(sorted(m for m in sys.modules if m.startswith('wavedil.train')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"
