"""NAM's newer WaveNet layers (wavedil/effect/layer.py): FiLM with and without shift and with
groups, grouped convolutions, a bottleneck, head 1x1 convolutions, every gating mode with its
gate's activation, and the activations with parameters, checked against the .nam format's
forward written from its description in float64 (tests/test_nam.py's ``reference_forward``);
streaming equals the forward, files round-trip weight for weight, and a file of the kind of
NAM's ``wavenet_a2_max.nam`` (NAM's 0.6.0 layout, written here by hand) plays. NAM core is
never needed."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from test_nam import Weights, _receptive_field, _valid, reference_forward
from wavedil.config import ConfigError
from wavedil.effect.model import EffectConfig, EffectNet, with_tanh
from wavedil.effect.nam import NamFormatError, from_nam, to_nam
from wavedil.effect.process import Processor, process

CONDITION = EffectConfig(preset=None, outputs=4, arrays=[
    {"channels": 3, "head_size": 4, "kernel_size": 2, "dilations": [1, 2], "activation": "tanh",
     "gated": True, "head_bias": False, "secondary_activation": "hardswish", "groups_input": 3,
     "film": {"conv_post_film": {"shift": False, "groups": 1}}}])
"""A condition DSP of four outputs, so that the layers' FiLMs can be grouped."""

ARRAYS = [
    {"channels": 4, "head_size": 3, "kernel_size": [2, 3, 2], "dilations": [1, 2, 4],
     "activation": ["softsign", {"name": "prelu", "negative_slopes": [0.1, 0.3]}, "hardswish"],
     "gated": ["none", "gated", "blended"], "head_bias": True,
     "secondary_activation": [None, "silu", {"name": "leaky_hardtanh", "min_val": 0.0,
                                             "max_val": 0.9, "min_slope": 0.0,
                                             "max_slope": 0.02}],
     "bottleneck": 2, "groups_input": 2, "groups_input_mixin": 2, "layer1x1_groups": 2,
     "head1x1": {"out_channels": 4, "groups": 2},
     "film": {k: {"shift": shift, "groups": g} for k, shift, g in (
         ("conv_pre_film", True, 2), ("conv_post_film", False, 1),
         ("input_mixin_pre_film", True, 4), ("input_mixin_post_film", False, 1),
         ("activation_pre_film", True, 2), ("activation_post_film", True, 1),
         ("layer1x1_post_film", True, 4), ("head1x1_post_film", False, 2))}},
    {"channels": 3, "head_size": 1, "kernel_size": 2, "dilations": [3, 1],
     "activation": {"name": "leaky_relu", "negative_slope": 0.2}, "gated": "blended",
     "head_bias": True, "layer1x1": False, "secondary_activation": "relu",
     "film": {"activation_pre_film": {"shift": True, "groups": 2}}},
]
"""Every new feature: FiLM at every position (shift or not, groups 1, 2 and 4), grouped
convolutions, a bottleneck, a head 1x1, the three gating modes with their gates, prelu,
hardswish, leaky_hardtanh, a leaky_relu slope and an array without layer1x1."""


def _model(arrays=ARRAYS, seed=0) -> EffectNet:
    """In float64, its weights float32 values (as a .nam file holds them)."""
    torch.manual_seed(seed)
    m = EffectNet(EffectConfig(preset=None, arrays=arrays, condition_dsp=asdict(CONDITION)))
    for p in m.parameters():
        p.data.normal_(0.0, 0.4)
    return m.double().eval()


def _x(n=400, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * 0.5


def _forward(m: EffectNet, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return m(torch.tensor(x, dtype=next(m.parameters()).dtype)[None])[0].double().numpy()


def _close(ours, ref, tol=1e-10):
    """Equal to ``tol`` of the reference's largest value."""
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol * np.abs(ref).max())


def test_the_new_layers_match_the_formats_forward():
    m = _model()
    nam = json.loads(json.dumps(to_nam(m)))
    assert len(nam["weights"]) + len(nam["config"]["condition_dsp"]["weights"]) == \
        m.config.parameters == sum(p.numel() for p in m.parameters()) + 2
    x = _x()
    _close(_forward(m, x), reference_forward(nam, x))
    layer = nam["config"]["layers"][0]
    assert layer["gating_mode"] == ["none", "gated", "blended"]
    assert layer["activation"][1] == {"type": "PReLU", "negative_slopes": [0.1, 0.3]}
    assert layer["conv_post_film"] == {"active": True, "shift": False, "groups": 1}


def test_layer1x1_post_film_acts_in_blended_layers_alone_as_in_nam_core():
    m = _model()
    x = torch.tensor(_x(), dtype=torch.float64)[None]
    film = m.arrays[0].layers
    with torch.no_grad():
        before = m(x)
        for i in (0, 1):  # gating none and gated: the FiLM's weights change nothing
            film[i].films["layer1x1_post_film"].project.weight.add_(1.0)
        assert torch.equal(m(x), before)
        film[2].films["layer1x1_post_film"].project.weight.add_(1.0)  # blended: it acts
        assert (m(x) - before).abs().max() > 1e-4 * before.abs().max()


@pytest.mark.parametrize("blocks", [[1, 1, 1, 5, 70], [17, 64, 3, 200]])
def test_streaming_equals_the_forward(blocks):
    m = _model(seed=1)
    x = torch.tensor(_x(sum(blocks), seed=1), dtype=torch.float64)[None]
    with torch.no_grad():
        whole = m(x)
        state = m.init_state(1, dtype=torch.float64)
        outs, i = [], 0
        for b in blocks:
            outs.append(m.stream(x[:, i:i + b], state)[0])
            i += b
    torch.testing.assert_close(torch.cat(outs, 1), whole, atol=1e-12, rtol=0)


def test_a_file_round_trips_weight_for_weight_and_plays_on_the_torch_engine():
    m = _model(seed=2).float()
    nam = json.loads(json.dumps(to_nam(m)))
    back = from_nam(nam)
    assert back.config.arrays == m.config.arrays
    assert back.config.condition_dsp["arrays"] == m.config.condition_dsp["arrays"]
    for (name, a), b in zip(m.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), name
    again = to_nam(back)
    assert again["weights"] == nam["weights"]
    assert again["config"]["condition_dsp"]["weights"] == nam["config"]["condition_dsp"]["weights"]
    x = torch.tensor(_x(300, seed=2), dtype=torch.float32)
    with torch.no_grad():
        want = m(x[None])[0]
        torch.testing.assert_close(back(x[None])[0], want, atol=0, rtol=0)
    run = Processor(back, 64)
    assert run.engine == "torch" and "FiLM" in run.why_torch
    torch.testing.assert_close(run(x), want, atol=1e-5 * want.abs().max().item(), rtol=0)
    with pytest.raises(ValueError, match="uses FiLM, grouped convolutions, a bottleneck, head"):
        process(back, x, 64, engine="compiled")


def test_plain_layers_keep_their_weights_names_and_the_compiled_engine():
    from wavedil.effect.engine import EffectEngine

    m = EffectNet(EffectConfig(preset="nano"))
    names = {k.split("layers.0.", 1)[1] for k in m.state_dict() if "layers.0." in k}
    assert names == {"conv.conv.weight", "conv.conv.bias", "mixer.weight", "layer1x1.weight",
                     "layer1x1.bias"}  # what checkpoints hold
    assert EffectEngine.unsupported(m) == ""


def test_tanh_fast_renames_per_layer_activations_and_gates():
    arrays = [dict(ARRAYS[0], activation=["tanh", ARRAYS[0]["activation"][1], "tanh"],
                   secondary_activation=[None, "tanh", "sigmoid"]), ARRAYS[1]]
    fast = with_tanh(_model(arrays), "fast")
    assert fast.config.arrays[0]["activation"][::2] == ["fast_tanh", "fast_tanh"]
    assert fast.config.arrays[0]["secondary_activation"] == [None, "fast_tanh", "sigmoid"]


A2_MAX_KIND = {
    "version": "0.6.0", "architecture": "WaveNet", "sample_rate": 48000,
    "config": {
        "head": None, "head_scale": 0.02,
        "condition_dsp": {"version": "0.6.0", "architecture": "WaveNet", "sample_rate": 48000,
                          "config": {"head": None, "head_scale": 0.02, "layers": [
            {"input_size": 1, "condition_size": 1, "head_size": 2, "channels": 3,
             "bottleneck": 6, "kernel_size": 2, "dilations": [1, 2],
             "activation": {"type": "SiLU"}, "gating_mode": "gated", "head_bias": False,
             "groups_input": 3, "groups_input_mixin": 1,
             "head1x1": {"active": True, "out_channels": 6, "groups": 3},
             "secondary_activation": "Hardswish",
             "conv_pre_film": {"active": True, "shift": True, "groups": 1},
             "activation_post_film": {"active": True, "shift": False, "groups": 1},
             "layer1x1": {"active": True, "groups": 1}},
            {"input_size": 3, "condition_size": 1, "head_size": 4, "channels": 2,
             "bottleneck": 2, "kernel_size": 3, "dilations": [1, 3],
             "activation": [{"type": "PReLU", "negative_slopes": [0.04, 0.05]}, "Softsign"],
             "gating_mode": ["blended", "gated"], "head_bias": False,
             "head1x1": {"active": True, "out_channels": 2, "groups": 1},
             "secondary_activation": [{"type": "LeakyHardtanh", "min_val": 0.0, "max_val": 0.9,
                                       "min_slope": 0.0, "max_slope": 0.02}, "ReLU"],
             "layer1x1_post_film": {"active": True, "shift": False, "groups": 1},
             "input_mixin_pre_film": False,
             "layer1x1": {"active": True, "groups": 1}}]}},
        "layers": [
            {"input_size": 1, "condition_size": 4, "head_size": 1, "channels": 4,
             "bottleneck": 4, "kernel_size": 3, "dilations": [1, 2],
             "activation": {"type": "Softsign"}, "gating_mode": "none", "head_bias": True,
             "groups_input": 1, "groups_input_mixin": 4,
             "head1x1": {"active": True, "out_channels": 4, "groups": 2},
             "secondary_activation": "",
             **{k: {"active": True, "shift": True, "groups": g} for k, g in (
                 ("conv_pre_film", 2), ("conv_post_film", 4), ("input_mixin_pre_film", 4),
                 ("input_mixin_post_film", 2), ("activation_pre_film", 1),
                 ("activation_post_film", 2), ("layer1x1_post_film", 4),
                 ("head1x1_post_film", 4))},
             "layer1x1": {"active": True, "groups": 2}}]}}
"""A small file laid out as NAM's ``wavenet_a2_max.nam`` (model version 0.6.0: one kernel
size, head_size and head_bias, a single activation or gating mode for every layer or a list,
FiLM at every position, groups, a head 1x1 and a condition DSP of the same kind)."""


def _a2_max_kind() -> dict:
    """:data:`A2_MAX_KIND` with weights (uniform in +-1, as NAM's generate_weights_a2.py makes
    them), the number its config needs read off the format's forward."""
    nam = json.loads(json.dumps(A2_MAX_KIND))
    inner, outer = Weights(rng=np.random.default_rng(7)), Weights(rng=np.random.default_rng(8))
    _valid(nam, np.zeros((1, _receptive_field(nam))), outer, inner)
    scale = float(np.float32(0.02))  # head_scale, the last weight
    nam["config"]["condition_dsp"]["weights"] = inner.made[:-1] + [scale]
    nam["weights"] = outer.made[:-1] + [scale]
    return nam


def test_a_file_of_the_kind_of_wavenet_a2_max_plays_and_writes_back():
    nam = _a2_max_kind()
    m = from_nam(nam)
    x = _x(500, seed=3)
    ref = reference_forward(nam, x)
    _close(_forward(m.double(), x), ref)
    assert m.config.arrays[0]["activation"] == "softsign" and m.config.arrays[0]["gated"] is False
    written = json.loads(json.dumps(to_nam(m.float())))
    assert written["weights"] == nam["weights"]
    assert written["config"]["condition_dsp"]["weights"] == \
        nam["config"]["condition_dsp"]["weights"]
    _close(reference_forward(written, x), ref, 1e-12)  # what NAM reads of the written file
    _close(_forward(from_nam(written).double(), x), ref)


@pytest.mark.parametrize("edit, match", [
    (lambda lc: lc.update(activation=[{"type": "PReLU", "negative_slopes": [0.1] * 3},
                                      "Softsign"]),
     r"activation\[0\] prelu's negative_slopes must be one per channel \(2\), got 3"),
    (lambda lc: lc.update(secondary_activation=["Softplus", "ReLU"]),
     r"secondary_activation: activation 'Softplus' is not supported"),
    (lambda lc: lc.update(gating_mode=["blended", "mixed"]), "gating_mode"),
    (lambda lc: lc.update(layer1x1={"active": False, "groups": 1}),
     r"film.layer1x1_post_film needs a layer1x1"),
    (lambda lc: lc.update(head1x1={"active": False, "out_channels": 2, "groups": 1},
                          head1x1_post_film={"active": True}),
     r"film.head1x1_post_film needs a head1x1"),
    (lambda lc: lc["head1x1"].update(groups=3), r"head1x1.groups \(3\) must divide"),
    (lambda lc: lc["layer1x1_post_film"].update(groups="2"), "layer1x1_post_film must be"),
])
def test_bad_layers_fail_in_one_line_naming_the_field(edit, match):
    nam = _a2_max_kind()
    edit(nam["config"]["condition_dsp"]["config"]["layers"][1])
    with pytest.raises(NamFormatError, match=match) as e:
        from_nam(nam)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("change, match", [
    ({"bottleneck": 3}, r"bottleneck \(3\) must equal channels \(2\) without a layer1x1"),
    ({"film": {"conv_middle_film": {}}}, "film has unknown positions conv_middle_film"),
    ({"gated": ["blended", "gated"]}, r"gated must be one for every layer or a list of one per "
     r"layer \(3\)"),
    ({"groups_input": 4}, r"groups_input \(4\) must divide"),
])
def test_bad_array_keys_name_the_key(change, match):
    arrays = [ARRAYS[0], dict(ARRAYS[1], dilations=[3, 1, 2], channels=2, **change)]
    arrays[0] = dict(arrays[0], head_size=2)
    with pytest.raises(ConfigError, match=match) as e:
        EffectConfig(preset=None, arrays=arrays, condition_dsp=asdict(CONDITION))
    assert "\n" not in str(e.value)
