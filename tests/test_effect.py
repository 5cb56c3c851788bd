"""The effect model: NAM's sizes, causality, exact receptive field, streaming in any block
size equal to the forward, controls, config errors, NAM's fast tanh and playing tanh layers
with it."""

import numpy as np
import pytest
import torch

from wavedil.config import ConfigError
from wavedil.effect.model import PRESETS, EffectConfig, EffectNet, fast_tanh, with_tanh

SMALL = [{"channels": 4, "head_size": 2, "kernel_size": 3, "dilations": [1, 2, 4],
          "activation": "tanh", "gated": True, "head_bias": False},
         {"channels": 2, "head_size": 1, "kernel_size": 2, "dilations": [8, 1],
          "activation": "relu", "gated": False, "head_bias": True}]


def _model(**kw) -> EffectNet:
    torch.manual_seed(0)
    m = EffectNet(EffectConfig(preset=None, arrays=SMALL, **kw)).double().eval()
    for p in m.parameters():  # weights large enough that every layer matters
        p.data.normal_(0.0, 0.5)
    return m


def test_presets_have_nams_sizes():
    # Neural Amp Modeler's standard WaveNet has 13,802 weights (head_scale included), A2's
    # full size (A2.nam's 8-channel model) 12,146
    sizes = {name: EffectConfig(preset=name).parameters for name in PRESETS}
    assert sizes == {"standard": 13802, "lite": 6554, "feather": 3026, "nano": 842, "a2": 12146}
    for name in PRESETS:
        m = EffectNet(EffectConfig(preset=name))
        assert sum(p.numel() for p in m.parameters()) + 1 == sizes[name]
        assert m.receptive_field == (6347 if name == "a2" else 4093)
        assert m.config.head_scale == (0.01 if name == "a2" else 0.02)


def test_receptive_field_is_exact_and_causal():
    m = _model()
    rf = m.receptive_field
    assert rf == 1 + 2 * (1 + 2 + 4) + 1 * (8 + 1)
    x = torch.randn(1, 80, dtype=torch.float64)
    y = m(x)
    t = 60
    for moved, changes in ((t + 1, False), (t, True), (t - rf + 1, True), (t - rf, False)):
        x2 = x.clone()
        x2[0, moved] += 1.0
        assert bool((m(x2)[0, t] - y[0, t]).abs() > 1e-12) is changes, moved


@pytest.mark.parametrize("blocks", [[1] * 40, [1, 63, 64, 2, 500], [7, 13, 600], [1000]])
def test_stream_equals_forward(blocks):
    m = _model()
    x = torch.randn(2, sum(blocks), dtype=torch.float64)
    full = m(x)
    state = m.init_state(2, dtype=torch.float64)
    outs, i = [], 0
    for b in blocks:
        y, state = m.stream(x[:, i:i + b], state)
        outs.append(y)
        i += b
    torch.testing.assert_close(torch.cat(outs, -1), full, atol=1e-12, rtol=0)
    assert state.samples == x.shape[1]


def test_forward_hears_silence_before_the_input():
    """The forward of x equals the valid part of the forward of [silence; x]: the state a
    plugin is in after silence, not zero activations in every layer."""
    m = _model()
    x = torch.randn(1, 50, dtype=torch.float64)
    padded = torch.cat([x.new_zeros(1, 3 * m.receptive_field), x], dim=1)
    torch.testing.assert_close(m(x), m(padded)[:, -50:], atol=1e-12, rtol=0)
    valid = m(padded, valid=True)
    assert valid.shape[-1] == padded.shape[-1] - m.receptive_field + 1
    torch.testing.assert_close(valid[:, -50:], m(x), atol=1e-12, rtol=0)


def test_controls_condition_the_output():
    m = _model(controls=2)
    x = torch.randn(1, 300, dtype=torch.float64)
    a = m(x, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    b = m(x, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    assert (a - b).abs().max() > 1e-3
    state = m.init_state(1, dtype=torch.float64, controls=torch.tensor([[0.0, 1.0]]))
    y, _ = m.stream(x, state, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(y, a, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="needs 2 control values"):
        m(x)
    with pytest.raises(ValueError, match="takes no controls"):
        _model()(x, torch.tensor([[0.5]]))


@pytest.mark.parametrize("change, match", [
    ({"preset": "huge"}, "preset must be one of"),
    ({"preset": None}, "given when preset is null"),
    ({"arrays": [dict(SMALL[0], head_size=3), SMALL[1]]}, "must chain"),
    ({"arrays": [SMALL[0]]}, "head_size 1"),
    ({"arrays": [dict(SMALL[0], activation="swish"), SMALL[1]]}, "activation must be one of"),
    ({"arrays": [dict(SMALL[0], dilations=[]), SMALL[1]]}, "dilations must be"),
    ({"arrays": [dict(SMALL[0], channelz=3), SMALL[1]]}, "unknown: channelz"),
    ({"controls": -1}, "controls must be >= 0"),
])
def test_bad_configs_name_the_key(change, match):
    with pytest.raises(ConfigError, match=match) as e:
        EffectConfig.from_dict(change)
    assert "\n" not in str(e.value)


def test_a_preset_names_its_arrays():
    assert EffectConfig(arrays=PRESETS["lite"]).preset == "lite"
    assert EffectConfig(preset="nano", arrays=SMALL).preset is None


def test_rf_reads_an_effect_recipe():
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from wavedil.cli import app

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "effect_quickstart.yaml"
    r = CliRunner().invoke(app, ["rf", str(recipe), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["receptive_field"] == EffectConfig(preset="standard").receptive_field == 4093
    assert d["dilations"] == PRESETS["standard"][0]["dilations"] * 2


def nam_fast_tanh(x: np.ndarray) -> np.ndarray:
    """fast_tanh of NeuralAmpModelerCore's NAM/activations.h, in x's dtype: its float
    constants and one rounding per operation, in the order its C expression gives."""
    a, b, c, d, e = (x.dtype.type(v) for v in (2.45550750702956, 0.893229853513558,
                                                0.821226666969744, 2.44506634652299,
                                                0.814642734961073))
    ax, x2 = np.abs(x), x * x
    return x * (a + a * ax + (b + c * ax) * x2) / (d + (d + x2) * np.abs(x + e * x * ax))


def test_fast_tanh_is_nams_formula_to_float32_rounding():
    x = np.concatenate([np.linspace(-12, 12, 240_001, dtype=np.float32),
                        np.float32([0.0, -0.0, 1e-30, -3e-8, 1e4, -1e4])])
    assert np.array_equal(fast_tanh(torch.from_numpy(x)).numpy(), nam_fast_tanh(x))
    x64 = np.linspace(-8, 8, 160_001)
    got = fast_tanh(torch.from_numpy(x64)).numpy()
    np.testing.assert_allclose(got, nam_fast_tanh(x64), rtol=1e-15, atol=0)
    err = np.abs(got - np.tanh(x64))
    assert 4e-4 < err.max() < 4.4e-4 and abs(abs(x64[err.argmax()]) - 0.58) < 0.01
    big = fast_tanh(torch.tensor([-1e6, 1e6], dtype=torch.float64))
    assert torch.allclose(big.abs(), torch.tensor(0.821226666969744 / 0.814642734961073,
                                                  dtype=torch.float64))  # +-1.0081, not +-1
    t = torch.linspace(-3, 3, 101, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fast_tanh, (t[t != 0].detach().requires_grad_(),))


def test_with_tanh_plays_the_tanh_layers_as_asked_and_keeps_the_weights():
    m = _model()  # tanh (gated) then relu
    assert with_tanh(m, "model") is m and with_tanh(m, "exact") is m
    fast = with_tanh(m, "fast")
    assert [a["activation"] for a in fast.config.arrays] == ["fast_tanh", "relu"]
    assert [a["activation"] for a in m.config.arrays] == ["tanh", "relu"]  # m unchanged
    assert all(torch.equal(p, q) for p, q in zip(m.parameters(), fast.parameters()))
    assert next(fast.parameters()).dtype == torch.float64 and not fast.training
    x = torch.randn(2, 300, dtype=torch.float64)
    with torch.no_grad():
        y, yf = m(x), fast(x)
        assert 1e-6 < (yf - y).abs().max() < 1e-2 * y.abs().max()
        torch.testing.assert_close(with_tanh(fast, "exact")(x), y, rtol=0, atol=0)
    assert with_tanh(fast, "exact").config.arrays == m.config.arrays
    with pytest.raises(ValueError, match="--tanh must be one of model, fast, exact, got 'quick'"):
        with_tanh(m, "quick")
