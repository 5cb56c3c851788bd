"""Knob models: embedded pairs at several knob positions (one held out), a knob model fixed at
one setting plays as the knob model does there, and travels as a .nam file."""

import json

import numpy as np
import pytest
import torch

from wavedil.config import ConfigError
from wavedil.effect.knobs import fix_controls
from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.effect.nam import load_nam
from wavedil.effect.paired import PairedDataConfig, embedded_input, prepare_pairs
from wavedil.effect.reference import reference_amp
from wavedil.export import export

RATE = 8000


def _random(config: EffectConfig, seed=0) -> EffectNet:
    torch.manual_seed(seed)
    model = EffectNet(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval()


@pytest.mark.parametrize("config", [EffectConfig(preset="nano", controls=2),
                                    EffectConfig(lstm={"layers": 2, "hidden": 4}, controls=2)],
                         ids=["wavenet", "lstm"])
def test_fixed_model_plays_as_the_knob_model_at_its_setting(config):
    model = _random(config)
    x = torch.randn(2, 2000) * 0.3
    knobs = [0.3, 0.9]
    fixed = fix_controls(model, knobs)
    assert fixed.config.controls == 0 and model.config.controls == 2  # the original unchanged
    with torch.no_grad():
        want, got = model(x, torch.tensor(knobs)), fixed(x)
        other = model(x, torch.tensor([0.9, 0.3]))
    assert (want - other).abs().max() > 100 * (want - got).abs().max()  # the knobs matter
    torch.testing.assert_close(got, want, atol=1e-6 * float(want.abs().max()), rtol=0)


def test_fix_controls_refuses_what_does_not_fold():
    with pytest.raises(ValueError, match="no controls"):
        fix_controls(_random(EffectConfig(preset="nano")), [0.5])
    with pytest.raises(ValueError, match="has 1 controls, got 2 values"):
        fix_controls(_random(EffectConfig(preset="nano", controls=1)), [0.5, 0.5])
    arrays = [dict(a, film={"activation_post_film": {"shift": True, "groups": 1}})
              for a in EffectConfig(preset="nano").arrays]
    with pytest.raises(ValueError, match="layer 0 of array 0 reads its controls through FiLM"):
        fix_controls(_random(EffectConfig(preset=None, arrays=arrays, controls=1)), [0.5])


def test_export_with_a_control_writes_a_nam_file_of_that_setting(tmp_path):
    model = _random(EffectConfig(preset="nano", controls=1))
    with pytest.raises(ValueError, match="controls"):
        export(model, "nam", tmp_path / "no-control.nam")
    from wavedil import WaveNet, WaveNetConfig

    with pytest.raises(ValueError, match="a model of kind wavenet has no controls"):
        export(WaveNet(WaveNetConfig(layers=2, cycle_length=2, residual_channels=4,
                                     gate_channels=8, skip_channels=4)), "torchscript",
               tmp_path / "ts", controls=[0.5])
    path, = export(model, "nam", tmp_path / "half.nam", controls=[0.5])
    assert "(controls 0.5)" in json.loads(path.read_text())["metadata"]["name"]
    x = torch.randn(1, 1500) * 0.3
    with torch.no_grad():
        torch.testing.assert_close(load_nam(path)(x), model(x, torch.tensor([0.5])),
                                   atol=1e-6, rtol=0)


def test_embedded_knob_pairs_and_the_held_out_setting(tmp_path):
    cfg = PairedDataConfig(sample_rate=RATE, cache_dir=str(tmp_path), crop=64,
                           embedded_effect="amp", embedded_knobs=[0.0, 1.0],
                           heldout_knobs=[0.5], validation_fraction=0.1)
    data = prepare_pairs(cfg, receptive_field=5, controls=1)
    x = embedded_input(cfg)
    n_val = round(x.size * 0.1)
    knobs = {i: float(data.controls[i, 0]) for i in range(len(data))}
    assert sorted(knobs[i] for i in data.train) == [0.0, 1.0]  # never the held-out one
    assert sorted(knobs[i] for i in data.validation) == [0.0, 0.5, 1.0]
    for i in data.validation:  # each a tail of the same input, unseen in training
        a, b = data.bounds[i].tolist()
        assert b - a == n_val
        np.testing.assert_array_equal(data.inputs[a:b].numpy(), x[-n_val:])
        np.testing.assert_allclose(data.targets[a:b].numpy(),
                                   reference_amp(x, RATE, knobs[i])[-n_val:], atol=1e-7)
    with pytest.raises(ValueError, match="1 control values, but the model has model.controls = 0"):
        prepare_pairs(cfg, receptive_field=5, controls=0)


@pytest.mark.parametrize("values, match", [
    (dict(embedded_knobs=[1.5]), "embedded_knobs must be null or a non-empty list"),
    (dict(heldout_knobs=[0.5]), "heldout_knobs must be empty unless embedded_knobs"),
    (dict(embedded_knobs=[0.5], heldout_knobs=[0.5]), "heldout_knobs must be positions not in"),
    (dict(embedded_knobs=[0.0], heldout_knobs=[0.5], validation_fraction=0.0),
     "heldout_knobs must be empty when validation_fraction is 0"),
    (dict(embedded_effect="tube"), "embedded_effect must be pedal or amp"),
    (dict(embedded_knob=2), "embedded_knob must be a knob position"),
])
def test_bad_knob_settings_fail_in_one_line(values, match):
    with pytest.raises(ConfigError, match=match) as e:
        PairedDataConfig.from_dict(values)
    assert "\n" not in str(e.value)


def test_recorded_held_out_pair_is_validation_from_end_to_end(tmp_path):
    import soundfile as sf

    rng = np.random.default_rng(0)
    pairs = []
    for i, knob in enumerate((0.0, 0.5, 1.0)):
        x = (rng.standard_normal(RATE) * 0.3).astype(np.float32)
        sf.write(tmp_path / f"in{i}.wav", x, RATE, subtype="FLOAT")
        sf.write(tmp_path / f"out{i}.wav", reference_amp(x, RATE, knob), RATE, subtype="FLOAT")
        pairs.append({"input": str(tmp_path / f"in{i}.wav"),
                      "target": str(tmp_path / f"out{i}.wav"), "controls": [knob],
                      "heldout": knob == 0.5})
    data = prepare_pairs(PairedDataConfig(pairs=pairs, sample_rate=RATE, latency=0,
                                          validation_fraction=0.25), 5, controls=1)
    held = [i for i in range(len(data)) if float(data.controls[i, 0]) == 0.5]
    assert held and all(i in data.validation for i in held)
    assert sum(data.clip_length(i) for i in held) == RATE
    with pytest.raises(ConfigError, match="at least one pair that is not heldout"):
        PairedDataConfig(pairs=[dict(p, heldout=True) for p in pairs], sample_rate=RATE)


def test_a_knob_model_learns_its_knob(tmp_path):
    """A small knob model trained on the embedded amp at knob 0 and 1 plays each setting
    better with its own control value than with the other's, and the held-out 0.5 better
    with 0.5 than with either end."""
    from wavedil.effect.paired import prepare_pairs
    from wavedil.effect.process import process
    from wavedil.train import recipe_from_dict, train
    from wavedil.train.objective import esr

    arrays = [{"channels": 8, "head_size": 4, "kernel_size": 3, "dilations": [1, 2, 4, 8, 16],
               "activation": "tanh", "gated": False, "head_bias": False},
              {"channels": 4, "head_size": 1, "kernel_size": 3, "dilations": [1, 2],
               "activation": "tanh", "gated": False, "head_bias": True}]
    recipe = recipe_from_dict({
        "data": {"input": "embedded", "embedded_effect": "amp", "embedded_knobs": [0.0, 1.0],
                 "heldout_knobs": [0.5], "sample_rate": RATE, "crop": 1024,
                 "cache_dir": str(tmp_path / "cache")},
        "model": {"kind": "effect", "preset": None, "arrays": arrays, "controls": 1,
                  "head_scale": 0.1},
        "train": {"steps": 400, "batch_size": 8, "lr": 0.004, "warmup_steps": 10,
                  "validate_every": 200, "checkpoint_every": 200, "validation_crops": 6,
                  "log_every": 100, "run_dir": str(tmp_path / "run")}}, "knob")
    result = train(recipe, echo=lambda s: None)
    assert result.best_val < 0.5 * result.untrained_val
    from wavedil.checkpoint import load_effect

    model = load_effect(tmp_path / "run" / "best.pt")
    data = prepare_pairs(recipe.data, model.receptive_field, 1)
    scores = {}
    for clip in data.validation:
        a, b = data.bounds[clip].tolist()
        x, y = data.inputs[a:b], data.targets[a:b]
        knob = float(data.controls[clip, 0])
        for played in (0.0, 0.5, 1.0):
            scores[knob, played] = float(esr(process(model, x, 64, [played])[None], y[None]))
    for knob, other in ((0.0, 1.0), (1.0, 0.0)):
        assert scores[knob, knob] < 0.5 * scores[knob, other], scores
    assert scores[0.5, 0.5] < min(scores[0.5, 0.0], scores[0.5, 1.0]), scores
