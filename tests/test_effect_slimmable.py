"""Slimmable effect models and NAM's A2 layout (wavedil/effect/slimmable.py): a width's training
pass is the model NAM cuts to that width, exactly, with the gradients landing in the weights'
leading blocks; a few sandwich-rule steps lower the loss at the narrow width too; a slimmable
model is written as NAM's slimmable WaveNet or a SlimmableContainer of its widths and read back
unchanged; the a2 preset is A2.nam's full-size model, and NAM's package plays both (when the
``nam`` extra is installed)."""

import json
import os
from pathlib import Path

import pytest
import torch

from wavedil.config import ConfigError
from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.effect.nam import NamFormatError, from_nam, load_nam, to_nam
from wavedil.effect.slimmable import (at_size, breakpoints, cut, narrow, sandwich, shell,
                                      width_choices, widths_at)
from wavedil.train.effect_stack import ChunkedArrays
from wavedil.train.objective import EffectObjective

GATED = [{"channels": 6, "head_size": 3, "kernel_size": 3, "dilations": [1, 2, 4],
          "activation": "tanh", "gated": True, "head_bias": False},
         {"channels": 3, "head_size": 1, "kernel_size": 2, "dilations": [8, 1],
          "activation": "hardtanh", "gated": False, "head_bias": True}]
A2_LIKE = [{"channels": 5, "head_size": 1, "kernel_size": [6, 6, 15, 6], "dilations": [1, 3, 1, 7],
            "activation": "leaky_relu", "gated": False, "head_bias": True,
            "head_kernel_size": 4}]
"""A2's features, small: a kernel size per layer, LeakyReLU, a head convolution of 4 taps."""
BLENDED = [{"channels": 4, "head_size": 1, "kernel_size": 3, "dilations": [1, 2, 4],
            "activation": ["tanh", "silu", "softsign"], "gated": ["blended", "gated", "none"],
            "secondary_activation": ["sigmoid", "hardtanh", None], "layer1x1": False,
            "head_bias": True}]
CASES = {"gated, two arrays": (GATED, [[2, 4, 6], [1, 3]]), "a2-like": (A2_LIKE, [[2, 5]]),
         "blended, no layer1x1": (BLENDED, [[1, 3, 4]])}


def _random(arrays, slimmable, seed=0) -> EffectNet:
    torch.manual_seed(seed)
    m = EffectNet(EffectConfig(preset=None, arrays=arrays, slimmable=slimmable)).eval()
    for p in m.parameters():
        p.data.normal_(0.0, 0.4)
    return m


def _nam_core() -> Path | None:
    """A NeuralAmpModelerCore checkout: $NAM_CORE_SOURCE, or one beside this repository."""
    for path in (os.environ.get("NAM_CORE_SOURCE"),
                 Path(__file__).resolve().parents[2] / "NeuralAmpModelerCore"):
        if path and (Path(path) / "example_models" / "A2.nam").is_file():
            return Path(path)
    return None


def test_the_a2_preset_is_the_full_size_model_of_nams_a2():
    core = _nam_core()
    if core is None:
        pytest.skip("no NeuralAmpModelerCore checkout with example_models/A2.nam "
                    "(set NAM_CORE_SOURCE)")
    path = core / "example_models" / "A2.nam"
    full = load_nam(path, 1.0)
    preset = EffectConfig(preset="a2")
    assert full.config.arrays == preset.arrays and full.config.preset == "a2"
    assert full.config.head_scale == pytest.approx(preset.head_scale, rel=1e-7)  # float32 0.01
    weights = len(json.loads(path.read_text())["config"]["submodels"][-1]["model"]["weights"])
    assert preset.parameters == weights == 12146
    assert preset.receptive_field == full.receptive_field == 6347
    assert load_nam(path, 0.0).config.slimmable is None  # two models trained apart: not slices


def test_the_a2_preset_plays_in_nams_package():
    nam_models = pytest.importorskip("nam.models", reason="the nam extra (neural-amp-modeler)")
    torch.manual_seed(1)
    m = EffectNet(EffectConfig(preset="a2")).eval()  # as training starts it
    theirs = nam_models.init_from_nam(json.loads(json.dumps(to_nam(m)))).eval()
    x = torch.randn(1, 3000) * 0.5
    with torch.no_grad():
        torch.testing.assert_close(m(x), theirs(x, pad_start=True), atol=1e-7, rtol=0)


def _grad(p: torch.Tensor) -> torch.Tensor:
    """A copy of p's gradient; zeros where nothing reached it (the last layer's layer1x1)."""
    return p.grad.clone() if p.grad is not None else torch.zeros_like(p)


@pytest.mark.parametrize("arrays, slimmable", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("stack", [None, ChunkedArrays()], ids=["own pass", "chunked arrays"])
def test_a_widths_training_pass_is_nams_cut_with_gradients_in_its_leading_blocks(arrays,
                                                                                  slimmable,
                                                                                  stack):
    """By the model's own pass, and by the training pass on the weights' views."""
    m = _random(arrays, slimmable)
    x = torch.randn(2, m.receptive_field + 200) * 0.5
    for widths in width_choices(m.config)[:-1]:
        small = cut(m, widths)
        assert [a["channels"] for a in small.config.arrays] == widths
        assert small.config.slimmable is None
        m.zero_grad()
        y = narrow(m, shell(m.config, widths), x, valid=True, stack=stack)
        torch.testing.assert_close(y, small(x, valid=True), atol=1e-6, rtol=1e-5)
        (y ** 2).sum().backward()
        small.zero_grad()
        (small(x, valid=True) ** 2).sum().backward()
        theirs = {name: _grad(p) for name, p in small.named_parameters()}
        for name, p in m.named_parameters():
            block = tuple(slice(0, n) for n in theirs[name].shape)
            torch.testing.assert_close(_grad(p)[block], theirs[name], atol=1e-5, rtol=1e-5)
            rest = _grad(p)
            rest[block] = 0.0
            assert not rest.any(), name  # nothing outside the width's weights moves
    assert cut(m, width_choices(m.config)[-1]) is m


def test_sizes_widths_and_the_sandwich_rule():
    c = EffectConfig(preset="nano", slimmable=[[1, 2, 3, 4], [1, 2]])
    assert breakpoints(c) == [0.25, 0.5, 0.75]
    assert width_choices(c) == [[1, 1], [2, 1], [3, 2], [4, 2]]
    assert [widths_at(c, s) for s in (0.0, 0.25, 0.49, 0.5, 1.0)] == \
        [[1, 1], [2, 1], [2, 1], [3, 2], [4, 2]]  # NAM core's allowed[min(floor(s n), n - 1)]
    g = torch.Generator().manual_seed(0)
    steps = [sandwich(c, g) for _ in range(40)]
    assert all(s[:2] == [[4, 2], [1, 1]] and s[2] in ([2, 1], [3, 2]) for s in steps)
    assert {tuple(s[2]) for s in steps} == {(2, 1), (3, 2)}
    assert sandwich(EffectConfig(preset="a2", slimmable=[[3, 8]])) == [[8], [3]]
    assert width_choices(EffectConfig(preset="nano")) == [[4, 2]]


@pytest.mark.parametrize("change, match", [
    ({"slimmable": [[2, 4]]}, r"slimmable must be a list of one entry per layer array \(2\)"),
    ({"slimmable": [None, None]}, r"slimmable must give some array its widths"),
    ({"slimmable": [[4, 2], None]}, r"slimmable\[0\] must be channel counts that ascend and end "
                                    r"at arrays\[0\]'s channels \(4\), got \[4, 2\]"),
    ({"slimmable": [[1, 3], None]}, r"slimmable\[0\] must be .*\(4\), got \[1, 3\]"),
    ({"preset": None, "arrays": [dict(GATED[0], head_size=1, bottleneck=3)],
      "slimmable": [[3, 6]]}, r"slimmable\[0\] cannot cut arrays\[0\]: it has a bottleneck"),
    ({"preset": None, "arrays": [dict(GATED[0], head_size=1,
                                      film={"conv_pre_film": {"shift": True}})],
      "slimmable": [[3, 6]]}, r"slimmable\[0\] cannot cut arrays\[0\]: it has FiLM"),
    ({"lstm": {"layers": 1, "hidden": 8}, "slimmable": [[4]]}, r"slimmable must be null for an"),
])
def test_what_cannot_be_slimmed_is_refused_naming_the_field(change, match):
    with pytest.raises(ConfigError, match=match) as e:
        EffectConfig.from_dict({"preset": "nano", **change})
    assert "\n" not in str(e.value) and "EffectConfig.slimmable" in str(e.value)


def _esr_at(m: EffectNet, batch: dict, widths: list[int]) -> float:
    with torch.no_grad():
        y = narrow(m, shell(m.config, widths), batch["input"], valid=True)
        t = batch["target"][:, -y.shape[-1]:]
        return float(((t - y) ** 2).sum() / (t ** 2).sum())


def test_a_few_sandwich_steps_lower_the_loss_at_the_narrow_width_too():
    torch.manual_seed(0)
    m = EffectNet(EffectConfig(preset=None, head_scale=0.1, slimmable=[[2, 6]], arrays=[
        dict(GATED[0], head_size=1, gated=False, head_bias=True)]))
    crop = 256
    x = torch.randn(4, m.receptive_field - 1 + crop) * 0.5
    target = torch.tanh(3.0 * x)  # a clipper: memoryless, learnt by either width
    batch = {"input": x, "target": target}
    objective = EffectObjective(crop, "esr", (), 0.0, 0.0)
    before = [_esr_at(m, batch, w) for w in ([2], [6])]
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    for _ in range(40):  # each step: the full width and the narrowest (the only two)
        opt.zero_grad()
        objective.loss(m, batch).backward()
        opt.step()
    after = [_esr_at(m, batch, w) for w in ([2], [6])]
    assert after[0] < 0.6 * before[0] and after[1] < 0.1 * before[1], (before, after)


def test_a_slimmable_wavenet_file_round_trips_and_plays_each_width():
    m = _random(GATED, [[2, 4, 6], [1, 3]], seed=2)
    nam = json.loads(json.dumps(to_nam(m)))
    assert nam["architecture"] == "WaveNet"
    assert [lc["slimmable"] for lc in nam["config"]["layers"]] == [
        {"method": "slice_channels_uniform", "kwargs": {"allowed_channels": w}}
        for w in ([2, 4, 6], [1, 3])]
    back = from_nam(nam)
    assert back.config == m.config
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), back.parameters()))
    again = json.loads(json.dumps(to_nam(back)))
    assert {k: v for k, v in again.items() if k != "metadata"} == \
        {k: v for k, v in nam.items() if k != "metadata"}
    x = torch.randn(1, 300)
    for size in (0.0, 0.4, 0.5, 0.9):
        played = from_nam(nam, size=size)  # full widths from 2/3 up, still slimmable there
        assert played.config.slimmable == (m.config.slimmable if size >= 2 / 3 else None)
        with torch.no_grad():
            torch.testing.assert_close(played(x), at_size(m, size)(x), atol=0, rtol=0)


def test_a_head_convolution_is_written_as_a_container_of_its_widths_and_read_back():
    m = _random(A2_LIKE, [[2, 5]], seed=3)
    nam = json.loads(json.dumps(to_nam(m)))  # NAM core slims 1x1 heads only
    assert nam["architecture"] == "SlimmableContainer"
    subs = nam["config"]["submodels"]
    assert [s["max_value"] for s in subs] == [0.5, 1.0]
    assert [s["model"]["config"]["layers"][0]["channels"] for s in subs] == [2, 5]
    assert all(s["model"]["config"]["layers"][0]["slimmable"] is None for s in subs)
    back = from_nam(nam)
    assert back.config == m.config
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), back.parameters()))
    x = torch.randn(1, 300)
    with torch.no_grad():
        torch.testing.assert_close(from_nam(nam, size=0.3)(x), cut(m, [2])(x), atol=0, rtol=0)
    edited = json.loads(json.dumps(nam))
    edited["config"]["submodels"][0]["model"]["weights"][0] += 1.0  # no longer a slice
    assert from_nam(edited).config.slimmable is None
    with pytest.raises(ValueError, match=r"NAM core slims layer arrays with 1x1 heads only; "
                       r"arrays\[0\]'s head has 4 taps"):
        to_nam(m, container=False)
    with pytest.raises(ValueError, match="this model is not slimmable"):
        to_nam(EffectNet(EffectConfig(preset="nano")), container=True)
    one = json.loads(json.dumps(to_nam(_random(GATED, [[2, 4, 6], [1, 3]]), container=True)))
    assert [s["max_value"] for s in one["config"]["submodels"]] == [1 / 3, 0.5, 2 / 3, 1.0]


def test_a_bad_slimmable_file_fails_in_one_line():
    m = _random(GATED, None, seed=4)
    nam = json.loads(json.dumps(to_nam(m)))
    nam["config"]["layers"][0]["bottleneck"] = 3
    nam["config"]["layers"][0]["slimmable"] = {"method": "slice_channels_uniform",
                                               "kwargs": {"allowed_channels": [3, 6]}}
    with pytest.raises(NamFormatError, match=r"slimmable\[0\] cannot cut arrays\[0\]") as e:
        from_nam(nam, "b.nam")
    assert "\n" not in str(e.value)


def test_nams_package_plays_a_slimmable_file_at_every_size():
    nam_models = pytest.importorskip("nam.models", reason="the nam extra (neural-amp-modeler)")
    m = _random([dict(GATED[0], head_size=1, head_bias=True)], [[2, 4, 6]], seed=5)
    nam = json.loads(json.dumps(to_nam(m)))  # NAM's package slims one layer array
    theirs = nam_models.init_from_nam(nam).eval()
    x = torch.randn(1, 400) * 0.5
    for size in (0.0, 0.4, 0.7, 1.0):
        theirs._net.set_slimming(size)
        with torch.no_grad():
            torch.testing.assert_close(from_nam(nam, size=size)(x), theirs(x, pad_start=True),
                                       atol=1e-6, rtol=0)
