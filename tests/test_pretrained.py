"""The pretrained models shipped in the package: listed, loadable as pretrained:NAME from the
library and the command line, each one makes sound from real input, and each validation
figure re-measured on its recipe's data equals the recorded one (where that data is here:
the embedded corpus always; the speech corpus only on a machine that has made it)."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from wavedil import load_model
from wavedil.cli import app
from wavedil.pretrained import FOLDER, PREFIX, models, resolve
from wavedil.train.validation import checkpoint_validation

runner = CliRunner()
SHIPPED = models()


def test_the_listing_matches_the_files():
    assert {m.name for m in SHIPPED} >= {"quickstart", "pitch", "effect"}
    for m in SHIPPED:
        assert m.path.is_file() and m.path.parent == FOLDER
        assert Path(__file__).parents[1].joinpath(m.recipe).is_file(), m.recipe
        assert m.train_minutes > 0 and m.steps > 0 and m.best_val < m.untrained_val
    assert sum(m.path.stat().st_size for m in SHIPPED) < 8e6  # a few MB in all
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0 and r.stdout.count(PREFIX) == len(SHIPPED)
    listed = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    assert [e["name"] for e in listed] == [m.name for m in SHIPPED]
    with pytest.raises(ValueError, match="pretrained:nope: no such pretrained model; there are"):
        resolve("pretrained:nope")
    r = runner.invoke(app, ["info", "pretrained:nope"])
    assert r.exit_code == 2 and "no such pretrained model" in r.stderr


def _tone(rate: int, seconds: float, f0: float = 220.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    y = sum(np.sin(2 * np.pi * k * f0 * t) * 0.6 ** k for k in range(1, 12))
    return (0.5 * y * np.exp(-3 * t)).astype(np.float32)


@pytest.mark.parametrize("m", SHIPPED, ids=[m.name for m in SHIPPED])
def test_each_model_makes_sound_from_the_command_line(m, tmp_path):
    loaded = load_model(PREFIX + m.name)
    assert loaded.config.kind == m.kind
    rate = loaded.sample_rate
    wav = tmp_path / "in.wav"
    sf.write(wav, _tone(rate, 0.25), rate, subtype="FLOAT")
    out = tmp_path / "out.wav"
    if m.kind == "effect":
        args = ["process", PREFIX + m.name, str(wav), "-o", str(out)]
    else:
        args = ["generate", PREFIX + m.name, "--from-wav", str(wav), "-o", str(out), "--seed", "1"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    y, got_rate = sf.read(out)
    assert got_rate == rate and np.isfinite(y).all()
    assert abs(y.size - int(rate * 0.25)) <= loaded.data.__dict__.get("hop_length", 1)
    assert np.sqrt(np.mean(y ** 2)) > 1e-3  # not silence
    r = runner.invoke(app, ["info", PREFIX + m.name])
    assert r.exit_code == 0 and f"step: {m.steps}" in r.stdout


def _data_is_here(m) -> bool:
    path = load_model(PREFIX + m.name).data.__dict__.get("path", "embedded")
    return path in (None, "embedded") or Path(path).exists()


@pytest.mark.parametrize("m", SHIPPED, ids=[m.name for m in SHIPPED])
def test_each_validation_figure_is_the_recorded_one(m):
    if not _data_is_here(m):
        pytest.skip(f"{m.name}'s data ({m.data}) is not on this machine")
    assert checkpoint_validation(PREFIX + m.name) == pytest.approx(m.best_val, abs=2e-3)


def test_rf_and_export_take_pretrained_names(tmp_path):
    r = runner.invoke(app, ["rf", "pretrained:quickstart", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["receptive_field"] == load_model(
        "pretrained:quickstart").model.receptive_field
    out = tmp_path / "pedal.nam"
    r = runner.invoke(app, ["export", "pretrained:effect", "--format", "nam", "-o", str(out)])
    assert r.exit_code == 0, r.output
    import torch

    from wavedil.effect.nam import load_nam

    x = torch.randn(1, 3000) * 0.3
    with torch.no_grad():
        torch.testing.assert_close(load_nam(out)(x), load_model("pretrained:effect").model(x),
                                   atol=1e-6, rtol=0)
