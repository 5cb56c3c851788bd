"""Neural Amp Modeler files: export, import, and the output checked against a forward pass of
the .nam format written here from its description (and against NAM's own package when the
``nam`` extra is installed), within 1e-5; bad files fail in one line."""

import json

import numpy as np
import pytest
import torch

from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.effect.nam import NamFormatError, from_nam, load_nam, save_nam, to_nam

ARRAYS = [{"channels": 6, "head_size": 3, "kernel_size": 3, "dilations": [1, 2, 4, 8],
           "activation": "tanh", "gated": True, "head_bias": False},
          {"channels": 3, "head_size": 1, "kernel_size": 2, "dilations": [16, 1, 32],
           "activation": "hardtanh", "gated": False, "head_bias": True}]
FAST = [dict(ARRAYS[0], activation="fast_tanh"), ARRAYS[1]]
A2 = [dict(ARRAYS[0], kernel_size=[3, 6, 2, 3], head_kernel_size=4, head_dilation=2),
      dict(ARRAYS[1], kernel_size=[2, 5, 2], head_kernel_size=3)]
"""NAM's A2 features: a kernel size per layer and causal head convolutions."""


def _fast_tanh(z):
    """NAM core's fast_tanh (NAM/activations.h), in float64."""
    az = np.abs(z)
    return (z * (2.45550750702956 + 2.45550750702956 * az
                 + (0.893229853513558 + 0.821226666969744 * az) * z * z)
            / (2.44506634652299 + (2.44506634652299 + z * z)
               * np.abs(z + 0.814642734961073 * z * az)))


ACT = {"Tanh": np.tanh, "Fasttanh": _fast_tanh, "Hardtanh": lambda z: np.clip(z, -1.0, 1.0),
       "ReLU": lambda z: np.maximum(z, 0.0), "Sigmoid": lambda z: 1 / (1 + np.exp(-z))}


def _random(preset=None, arrays=ARRAYS, seed=0) -> EffectNet:
    torch.manual_seed(seed)
    m = EffectNet(EffectConfig(preset=preset, arrays=None if preset else arrays)).eval()
    for p in m.parameters():
        p.data.normal_(0.0, 0.4)
    return m


def _receptive_field(nam: dict) -> int:
    layers = nam["config"]["layers"]
    rf = 1 + sum((k - 1) * d for lc in layers for k, d in zip(lc["kernel_sizes"], lc["dilations"]))
    rf += sum((lc["head"]["kernel_size"] - 1) * lc["head"].get("head_dilation", 1)
              for lc in layers)
    inner = nam["config"].get("condition_dsp")
    return rf + (_receptive_field(inner) - 1 if inner else 0)


def reference_forward(nam: dict, x: np.ndarray) -> np.ndarray:
    """The .nam WaveNet forward from the format alone: valid convolutions over the input
    preceded by receptive_field - 1 zeros, weights read in file order."""
    signal = np.concatenate([np.zeros(_receptive_field(nam) - 1), x])[None]  # (1, L)
    return _valid(nam, signal)[0, -len(x):]


def _valid(nam: dict, signal: np.ndarray) -> np.ndarray:
    """The outputs of a .nam WaveNet's valid convolutions over ``signal`` (1, L): (outputs,
    L - receptive field of its layers + 1); the layers' condition is the input, or the
    condition DSP's valid outputs over the same signal, right-aligned and zero before its
    first (the outputs that read those zeros are not among the caller's last ones)."""
    w = np.asarray(nam["weights"], np.float64)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        out = w[pos:pos + n].reshape(shape)
        pos += n
        return out

    layers = nam["config"]["layers"]
    inner = nam["config"].get("condition_dsp")
    cond, y, head = signal, signal, None
    if inner:
        c = _valid(inner, signal)
        cond = np.concatenate([np.zeros((c.shape[0], signal.shape[1] - c.shape[1])), c], 1)
    for lc in layers:
        c = lc["channels"]
        h = take(c, lc["input_size"], 1)[:, :, 0] @ y  # rechannel (no bias)
        for k, d, act, gate in zip(lc["kernel_sizes"], lc["dilations"], lc["activation"],
                                   lc["gating_mode"]):
            mid = 2 * c if gate == "gated" else c
            wk, bias = take(mid, c, k), take(mid)
            mix = take(mid, lc["condition_size"], 1)[:, :, 0]
            w1, b1 = take(c, c, 1)[:, :, 0], take(c)
            n = h.shape[1] - (k - 1) * d  # a valid dilated convolution shortens the signal
            z = sum(wk[:, :, j] @ h[:, j * d:j * d + n] for j in range(k)) + bias[:, None]
            z = z + mix @ cond[:, -n:]
            a = ACT[act["type"]](z[:c]) * (ACT["Sigmoid"](z[c:]) if gate == "gated" else 1.0)
            h = h[:, -n:] + w1 @ a + b1[:, None]
            head = a if head is None else head[:, -n:] + a
        hk, hd = lc["head"]["kernel_size"], lc["head"].get("head_dilation", 1)
        out = lc["head"]["out_channels"]
        hw = take(out, c, hk)  # a causal head convolution (1x1 unless NAM's A2 layout)
        n = head.shape[1] - (hk - 1) * hd
        head = sum(hw[:, :, j] @ head[:, j * hd:j * hd + n] for j in range(hk)) + (
            take(out)[:, None] if lc["head"]["bias"] else 0)
        y = h[:, -n:]
    scale = take(1)[0]
    assert pos == w.size and scale == nam["config"]["head_scale"]
    return scale * head


@pytest.mark.parametrize("preset, arrays", [(None, ARRAYS), (None, FAST), (None, A2),
                                            ("nano", None), ("standard", None)])
def test_export_matches_the_format_forward(preset, arrays):
    m = _random(preset, arrays)
    nam = json.loads(json.dumps(to_nam(m)))
    x = np.random.default_rng(0).standard_normal(700) * 0.5
    with torch.no_grad():
        ours = m(torch.tensor(x, dtype=torch.float32)[None])[0].double().numpy()
    ref = reference_forward(nam, x)
    assert ref.shape == ours.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    assert nam["architecture"] == "WaveNet" and nam["version"] == "0.7.0"
    assert len(nam["weights"]) == m.config.parameters


def test_round_trip_keeps_every_weight(tmp_path):
    m = _random()
    path = save_nam(m, tmp_path / "pedal.nam")
    back = load_nam(path)
    assert back.config.arrays == m.config.arrays
    for a, b in zip(m.parameters(), back.parameters()):
        assert torch.equal(a, b)
    assert not list(tmp_path.glob(".*.tmp"))


def test_fast_tanh_is_nams_fasttanh_both_ways():
    m = _random(arrays=FAST)
    nam = json.loads(json.dumps(to_nam(m)))
    assert {a["type"] for a in nam["config"]["layers"][0]["activation"]} == {"Fasttanh"}
    assert from_nam(nam).config.arrays == m.config.arrays
    nam["config"]["layers"][0]["activation"] = "Fasttanh"  # one name for every layer
    assert from_nam(nam).config.arrays == m.config.arrays


def test_the_older_layout_reads():
    m = _random()
    nam = to_nam(m)
    for lc, spec in zip(nam["config"]["layers"], ARRAYS):
        for key in ("head", "kernel_sizes", "gating_mode", "secondary_activation"):
            del lc[key]
        lc.update(head_size=spec["head_size"], head_bias=spec["head_bias"],
                  kernel_size=spec["kernel_size"], gated=spec["gated"],
                  activation={"tanh": "Tanh", "hardtanh": "Hardtanh"}[spec["activation"]])
    back = from_nam(nam)
    x = torch.randn(1, 300)
    with torch.no_grad():
        torch.testing.assert_close(back(x), m(x))


def _broken(edit):
    nam = json.loads(json.dumps(to_nam(_random())))
    edit(nam)
    return nam


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(architecture="GRU"), "architecture 'GRU' is not supported "
     r"\(WaveNet, LSTM, SlimmableContainer\)"),
    (lambda d: d["weights"].pop(), "holds 1282 weights, but its config needs 1283"),
    (lambda d: d.pop("weights"), "no 'weights'"),
    (lambda d: d["config"]["layers"][0]["conv_pre_film"].update(active=True), "FiLM"),
    (lambda d: d["config"]["layers"][0].update(groups_input=2), "grouped"),
    (lambda d: d["config"]["layers"][1]["activation"].__setitem__(0, {"type": "Softplus"}),
     "Softplus"),
    (lambda d: d["config"]["layers"][0].update(activation="Fast_Tanh"), "activation 'Fast_Tanh'"),
    (lambda d: d["config"].update(head={"channels": 4}), "post-head network"),
    (lambda d: d["config"]["layers"][0].update(condition_size=2), "condition_size"),
])
def test_unsupported_or_broken_files_fail_in_one_line(edit, match):
    with pytest.raises(NamFormatError, match=match) as e:
        from_nam(_broken(edit))
    assert "\n" not in str(e.value)


def test_malformed_json_and_controls(tmp_path):
    bad = tmp_path / "bad.nam"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_nam(bad)
    knobs = EffectNet(EffectConfig(preset="nano", controls=1))
    with pytest.raises(ValueError, match="1 controls"):
        to_nam(knobs)


def test_nams_own_implementation_agrees(tmp_path):
    nam_models = pytest.importorskip("nam.models", reason="the nam extra (neural-amp-modeler)")
    for preset in (None, "standard"):
        m = _random(preset, seed=3)
        theirs = nam_models.init_from_nam(json.loads(json.dumps(to_nam(m)))).eval()
        x = torch.randn(1, 5000) * 0.5
        with torch.no_grad():
            torch.testing.assert_close(m(x), theirs(x, pad_start=True), atol=1e-5, rtol=0)
        # and a file NAM itself writes reads back into the same model
        folder = tmp_path / str(preset)
        folder.mkdir()
        theirs.export(folder)
        back = load_nam(folder / "model.nam")
        with torch.no_grad():
            torch.testing.assert_close(back(x), theirs(x, pad_start=True), atol=1e-5, rtol=0)


def _container(*models, limits=(0.5, 1.0)) -> dict:
    return {"version": "0.7.0", "architecture": "SlimmableContainer", "sample_rate": 48000,
            "config": {"submodels": [{"max_value": v, "model": to_nam(m)}
                                     for v, m in zip(limits, models)]}}


def test_a_slimmable_container_plays_the_size_asked_for_the_full_one_by_default(tmp_path):
    small, full = _random("nano", seed=1), _random(None, seed=2)
    path = tmp_path / "both.nam"
    path.write_text(json.dumps(_container(small, full)))
    x = torch.randn(1, 400)
    with torch.no_grad():
        for size, want in ((None, full), (1.0, full), (0.7, full), (0.5, full), (0.49, small),
                           (0.0, small)):
            got = load_nam(path) if size is None else load_nam(path, size)
            torch.testing.assert_close(got(x), want(x), atol=0, rtol=0)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["config"]["submodels"].reverse(), "must ascend and end at 1.0"),
    (lambda d: d["config"]["submodels"][1].update(max_value=0.9), "must ascend and end at 1.0"),
    (lambda d: d["config"]["submodels"][0]["model"].update(sample_rate=44100),
     "submodels disagree in sample rate: submodel 0 at 44100 Hz, submodel 1 at 48000 Hz"),
    (lambda d: d["config"]["submodels"][1]["model"].update(architecture="GRU"),
     r"submodel 1 \(max_value 1\): architecture 'GRU'"),
    (lambda d: d["config"].update(submodels=[]), "config.submodels must be a non-empty list"),
])
def test_a_bad_container_fails_in_one_line_naming_what(edit, match):
    data = json.loads(json.dumps(_container(_random("nano"), _random(None))))
    edit(data)
    with pytest.raises(NamFormatError, match=match) as e:
        from_nam(data, "c.nam")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"size must be in \[0, 1\]"):
        from_nam(_container(_random("nano"), _random(None)), size=1.5)


@torch.no_grad()
def _streamed(m: EffectNet, x: torch.Tensor, block: int) -> torch.Tensor:
    """x (B, T) streamed through ``m`` in blocks of ``block`` from a warmed state, joined."""
    state = m.init_state(x.shape[0], block=block)
    return torch.cat([m.stream(x[:, i:i + block], state)[0]
                      for i in range(0, x.shape[1], block)], 1)


def test_an_a2_layout_streams_and_plays_on_both_engines():
    """Per-layer kernel sizes and head convolutions (NAM's A2): streaming equals the forward,
    and so does the compiled engine, in blocks of any length across its history's rewinds."""
    from wavedil.effect.engine import EffectEngine
    from wavedil.effect.process import process

    m = _random(None, A2, seed=4)
    assert m.receptive_field == 1 + sum((k - 1) * d for a in A2 for k, d in
                                        zip(a["kernel_size"], a["dilations"])) + 3 * 2 + 2 * 1
    x = torch.randn(1, 500) * 0.5
    with torch.no_grad():
        whole = m(x)
    torch.testing.assert_close(_streamed(m, x, 50), whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(process(m, x[0], 64, engine="torch"), whole[0], atol=1e-5,
                               rtol=0)
    engine = EffectEngine(m, free=70)  # rewinds every 70 samples, heads' histories too
    want = whole[0].numpy()
    outs = {block: engine.forward(x[0].numpy(), block=block) for block in (1, 17, 64, 70)}
    assert np.abs(outs[64] - want).max() < 1e-5
    for block, got in outs.items():
        assert np.array_equal(got, outs[64]), block  # no dependence on the block, bit for bit


def _nam_slice(nam: dict, widths: list[int]) -> dict:
    """NAM core's slimmable cut, from the format alone: walk the full weights in file order and
    keep each matrix's first rows and columns (extract_conv1x1 / extract_conv1d)."""
    w, pos, out = nam["weights"], 0, []
    layers = nam["config"]["layers"]

    def cut(rows, cols, k, keep_rows, keep_cols, bias):
        nonlocal pos
        for i in range(rows):
            for j in range(cols):
                for t in range(k):
                    if i < keep_rows and j < keep_cols:
                        out.append(w[pos])
                    pos += 1
        if bias:
            out.extend(w[pos:pos + keep_rows])
            pos += rows

    for a, lc in enumerate(layers):
        c, s = lc["channels"], widths[a]
        cut(c, lc["input_size"], 1, s, widths[a - 1] if a else 1, False)
        for k, gate in zip(lc["kernel_sizes"], lc["gating_mode"]):
            g = 2 if gate == "gated" else 1
            cut(g * c, c, k, g * s, s, True)
            cut(g * c, 1, 1, g * s, 1, False)
            cut(c, c, 1, s, s, True)
        head = lc["head"]["out_channels"]
        keep = widths[a + 1] if a + 1 < len(layers) else head
        cut(head, c, lc["head"]["kernel_size"], keep, s, lc["head"]["bias"])
    out.append(w[pos])
    assert pos + 1 == len(w)
    small = json.loads(json.dumps(nam))
    for a, lc in enumerate(small["config"]["layers"]):
        lc.update(channels=widths[a], input_size=widths[a - 1] if a else 1, slimmable=None)
        if a + 1 < len(layers):
            lc["head"]["out_channels"] = widths[a + 1]
    small["weights"] = out
    return small


def test_a_slimmable_wavenet_plays_the_widths_nams_size_knob_picks():
    m = _random(None, seed=5)  # arrays of 6 and 3 channels
    nam = json.loads(json.dumps(to_nam(m)))
    allowed = [[2, 4, 6], [1, 3]]
    for lc, widths in zip(nam["config"]["layers"], allowed):
        lc["slimmable"] = {"method": "slice_channels_uniform",
                           "kwargs": {"allowed_channels": widths}}
    x = np.random.default_rng(1).standard_normal(400) * 0.5
    for size, widths in ((1.0, [6, 3]), (0.7, [6, 3]), (0.5, [4, 3]), (0.4, [4, 1]),
                         (0.0, [2, 1])):
        got = from_nam(nam, size=size)
        assert [a["channels"] for a in got.config.arrays] == widths, size
        with torch.no_grad():
            ours = got(torch.tensor(x, dtype=torch.float32)[None])[0].double().numpy()
        np.testing.assert_allclose(ours, reference_forward(_nam_slice(nam, widths), x),
                                   atol=1e-5, rtol=0)
    nam["config"]["layers"][0]["slimmable"]["kwargs"]["allowed_channels"] = [4, 2, 6]
    with pytest.raises(NamFormatError, match="allowed_channels must ascend and end at"):
        from_nam(nam)


def _conditioned(seed: int = 6) -> EffectNet:
    """A WaveNet whose layers read a condition DSP's three outputs (NAM's condition_dsp)."""
    from dataclasses import asdict

    inner = EffectConfig(preset=None, outputs=3, arrays=[
        dict(ARRAYS[0], channels=4, head_size=2, dilations=[1, 2]),
        dict(ARRAYS[1], channels=2, head_size=3, dilations=[4])])
    torch.manual_seed(seed)
    m = EffectNet(EffectConfig(preset=None, arrays=A2, condition_dsp=asdict(inner))).eval()
    for p in m.parameters():
        p.data.normal_(0.0, 0.4)
    return m


def test_a_condition_dsp_reads_writes_streams_and_matches_the_format():
    m = _conditioned()
    assert m.receptive_field == m.condition_dsp.receptive_field + _random(None, A2).receptive_field - 1
    nam = json.loads(json.dumps(to_nam(m)))
    assert nam["config"]["condition_dsp"]["architecture"] == "WaveNet"
    assert {lc["condition_size"] for lc in nam["config"]["layers"]} == {3}
    x = np.random.default_rng(2).standard_normal(500) * 0.5
    xt = torch.tensor(x, dtype=torch.float32)[None]
    with torch.no_grad():
        ours = m(xt)
        np.testing.assert_allclose(ours[0].double().numpy(), reference_forward(nam, x),
                                   atol=1e-5, rtol=0)
        back = from_nam(nam)
        torch.testing.assert_close(back(xt), ours, atol=0, rtol=0)
    torch.testing.assert_close(_streamed(m, xt, 40), ours, atol=1e-5, rtol=0)
    from wavedil.effect.process import process

    torch.testing.assert_close(process(m, xt[0], 64), ours[0], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="it has a condition DSP"):
        process(m, xt[0], 64, engine="compiled")
    bad = json.loads(json.dumps(nam))
    bad["config"]["layers"][0]["condition_size"] = 1
    with pytest.raises(NamFormatError, match=r"condition_size is 1, expected 3 \(the condition "
                       "DSP's outputs\)"):
        from_nam(bad)
