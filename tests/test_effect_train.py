"""An effect recipe end to end: train on a pair from files (the model really learns the
pedal), then process a file in blocks (equal to the forward), export to .nam and back, and
refuse bad input with exit 2 and nothing written."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from wavedil.cli import app
from wavedil.effect.reference import reference_effect
from wavedil.effect.nam import load_nam
from wavedil.checkpoint import load_effect
from wavedil.train import load_recipe, train

RATE = 8000
runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("effect")
    rng = np.random.default_rng(0)
    t = np.arange(12 * RATE) / RATE
    # notes of varying level (the pedal's drive depends on it) and a little noise
    x = (np.sin(2 * np.pi * 110 * 2 ** (np.floor(t * 2) % 12 / 12) * t)
         * np.repeat(rng.uniform(0.05, 0.9, 24), RATE // 2)
         + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    sf.write(root / "dry.wav", x, RATE, subtype="FLOAT")
    sf.write(root / "wet.wav", reference_effect(x, RATE), RATE, subtype="FLOAT")
    recipe = root / "effect.yaml"
    recipe.write_text(f"""
data: {{input: {root / 'dry.wav'}, target: {root / 'wet.wav'}, sample_rate: {RATE}, crop: 1024,
       latency: 0, validation_fraction: 0.2}}
model:
  kind: effect
  preset: null
  head_scale: 0.1
  arrays:
    - {{channels: 8, head_size: 4, kernel_size: 3, dilations: [1, 2, 4, 8], activation: tanh,
       gated: false, head_bias: false}}
    - {{channels: 4, head_size: 1, kernel_size: 3, dilations: [1, 2], activation: tanh,
       gated: false, head_bias: true}}
train: {{steps: 150, batch_size: 8, lr: 0.004, warmup_steps: 10, validate_every: 75,
        checkpoint_every: 75, validation_crops: 4, log_every: 50, run_dir: {root / 'run'}}}
""")
    result = train(load_recipe(recipe), echo=lambda s: None)
    return root, result


def test_the_model_learns_the_pedal(run):
    _, result = run
    # the untrained output is near silence (ESR about 1); trained, the error is small
    assert result.untrained_val > 0.8
    assert result.best_val < 0.1 * result.untrained_val


def test_process_streams_exactly_and_exports(run, tmp_path):
    root, result = run
    ckpt = root / "run" / "best.pt"
    out = tmp_path / "wet.wav"
    r = runner.invoke(app, ["process", str(ckpt), str(root / "dry.wav"), "-o", str(out),
                            "--block", "37", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["samples"] == 12 * RATE
    model = load_effect(ckpt)
    dry, _ = sf.read(root / "dry.wav", dtype="float32")
    with torch.no_grad():
        full = model(torch.from_numpy(dry)[None])[0].numpy()
    wet, rate = sf.read(out, dtype="float32")
    assert rate == RATE
    np.testing.assert_allclose(wet, full, atol=1e-5)

    nam = tmp_path / "pedal.nam"
    assert runner.invoke(app, ["export", str(ckpt), "--format", "nam", "-o", str(nam)]).exit_code == 0
    with torch.no_grad():
        np.testing.assert_allclose(load_nam(nam)(torch.from_numpy(dry)[None])[0].numpy(), full,
                                   atol=1e-5)
    back = tmp_path / "pedal.pt"
    assert runner.invoke(app, ["import-nam", str(nam), "-o", str(back)]).exit_code == 0
    r = runner.invoke(app, ["info", str(back), "--json"])
    assert json.loads(r.output)["parameters"] == load_nam(nam).config.parameters - 1


def test_bad_input_exits_2_and_writes_nothing(run, tmp_path):
    root, _ = run
    ckpt = str(root / "run" / "best.pt")
    out = tmp_path / "o.wav"
    (tmp_path / "noise.txt").write_text("not audio")
    cases = [
        (["process", ckpt, str(tmp_path / "missing.wav"), "-o", str(out)], "no such file"),
        (["process", ckpt, str(tmp_path / "noise.txt"), "-o", str(out)], "not readable audio"),
        (["process", ckpt, str(root / "dry.wav"), "-o", str(out), "--block", "0"], "--block"),
        (["process", ckpt, str(root / "dry.wav"), "-o", str(out), "--control", "0.5"],
         "control values"),
        (["process", str(tmp_path / "noise.txt"), str(root / "dry.wav"), "-o", str(out)],
         "checkpoint"),
        (["generate", ckpt], "wavedil process"),
        (["import-nam", str(tmp_path / "noise.txt"), "-o", str(tmp_path / "x.pt")], "JSON"),
    ]
    for args, match in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert match in r.output and r.output.count("\n") == 1, r.output
    assert not list(tmp_path.glob("*.wav")) and not (tmp_path / "x.pt").exists()


def test_cli_mistakes_seen_by_a_new_user(run, tmp_path):
    """A folder given as a recipe and a wav given as a checkpoint: one plain line each."""
    root, _ = run
    cases = [(["train", str(root)], "a folder, not a recipe file"),
             (["info", str(root / "dry.wav")], "a wav file, not a checkpoint")]
    for args, match in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and match in r.output and r.output.count("\n") == 1, r.output
