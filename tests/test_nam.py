"""Neural Amp Modeler files: export, import, and the output checked against a forward pass of
the .nam format written here from its description (every layer feature of NAM's model
version 0.7, which tests/test_nam_film.py uses too; and against NAM's own package when the
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


def _random(preset=None, arrays=ARRAYS, seed=0) -> EffectNet:
    torch.manual_seed(seed)
    m = EffectNet(EffectConfig(preset=preset, arrays=None if preset else arrays)).eval()
    for p in m.parameters():
        p.data.normal_(0.0, 0.4)
    return m


def _fast_tanh(z):
    """NAM core's fast_tanh (NAM/activations.h), in float64."""
    az = np.abs(z)
    return (z * (2.45550750702956 + 2.45550750702956 * az
                 + (0.893229853513558 + 0.821226666969744 * az) * z * z)
            / (2.44506634652299 + (2.44506634652299 + z * z)
               * np.abs(z + 0.814642734961073 * z * az)))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _leaky_hardtanh(z, min_val=-1.0, max_val=1.0, min_slope=0.01, max_slope=0.01):
    return np.where(z < min_val, (z - min_val) * min_slope + min_val,
                    np.where(z > max_val, (z - max_val) * max_slope + max_val, z))


def _prelu(z, negative_slope=None, negative_slopes=None):
    """One slope per channel (row), or one for all: NAM core takes negative_slope where both
    are given, 0.01 where neither is."""
    if negative_slope is None and negative_slopes is not None:
        slopes = np.asarray(negative_slopes)[:, None]
    else:
        slopes = 0.01 if negative_slope is None else negative_slope
    return np.where(z > 0, z, slopes * z)


ACT = {"Tanh": np.tanh, "Fasttanh": _fast_tanh, "Hardtanh": lambda z: np.clip(z, -1.0, 1.0),
       "ReLU": lambda z: np.maximum(z, 0.0), "Sigmoid": _sigmoid,
       "Softsign": lambda z: z / (1 + np.abs(z)), "SiLU": lambda z: z * _sigmoid(z),
       "Hardswish": lambda z: z * np.clip(z + 3, 0, 6) / 6,
       "LeakyReLU": lambda z, negative_slope=0.01: np.where(z > 0, z, negative_slope * z),
       "PReLU": _prelu, "LeakyHardtanh": _leaky_hardtanh}
"""NAM's activations by name, in float64, each with its parameters' defaults."""
PARAMS = {"LeakyReLU": ("negative_slope",), "PReLU": ("negative_slope", "negative_slopes"),
          "LeakyHardtanh": ("min_val", "max_val", "min_slope", "max_slope")}
"""The parameters NAM core reads of each activation (it ignores any other key)."""

FILM_ORDER = ("conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
              "activation_pre_film", "activation_post_film", "layer1x1_post_film",
              "head1x1_post_film")


def _act(spec):
    """A .nam activation (a name, or {type, parameters}) as a function of (channels, n)."""
    if isinstance(spec, str):
        return ACT[spec]
    params = {k: v for k, v in spec.items() if k in PARAMS.get(spec["type"], ())}
    return lambda z: ACT[spec["type"]](z, **params)


def _each(value, n):
    return list(value) if isinstance(value, list) else [value] * n


def _kernels(lc) -> list[int]:
    return _each(lc["kernel_sizes"] if "kernel_sizes" in lc else lc["kernel_size"],
                 len(lc["dilations"]))


def _head_layout(lc) -> tuple[int, int, int, bool]:
    """(out channels, taps, dilation, bias) of a layer array's head convolution."""
    if "head" in lc:
        h = lc["head"]
        return h["out_channels"], h["kernel_size"], h.get("head_dilation", 1), h["bias"]
    return lc["head_size"], 1, 1, lc["head_bias"]


def _receptive_field(nam: dict) -> int:
    layers = nam["config"]["layers"]
    rf = 1 + sum((k - 1) * d for lc in layers for k, d in zip(_kernels(lc), lc["dilations"]))
    rf += sum((_head_layout(lc)[1] - 1) * _head_layout(lc)[2] for lc in layers)
    inner = nam["config"].get("condition_dsp")
    return rf + (_receptive_field(inner) - 1 if inner else 0)


class Weights:
    """A .nam model's weight list read in file order; or, given ``rng``, made up as it is read
    (uniform in +-1, float32 values), for writing a file by hand."""

    def __init__(self, values=None, rng=None):
        self.values, self.rng, self.made, self.pos = values, rng, [], 0

    def take(self, *shape):
        n = int(np.prod(shape))
        if self.rng is not None:
            self.made += self.rng.uniform(-1.0, 1.0, n).astype(np.float32).tolist()
            out = np.asarray(self.made[self.pos:self.pos + n])
        else:
            out = np.asarray(self.values[self.pos:self.pos + n], np.float64)
        self.pos += n
        return out.reshape(shape)

    def conv(self, out, inp, k, groups=1, bias=True):
        """A convolution's weight, dense (out, in, k) with zeros off its groups' blocks, and
        its bias (or 0)."""
        w, dense = self.take(out, inp // groups, k), np.zeros((out, inp, k))
        og, ig = out // groups, inp // groups
        for g in range(groups):
            dense[g * og:(g + 1) * og, g * ig:(g + 1) * ig] = w[g * og:(g + 1) * og]
        return dense, (self.take(out)[:, None] if bias else 0.0)


def reference_forward(nam: dict, x: np.ndarray) -> np.ndarray:
    """The .nam WaveNet forward from the format alone: valid convolutions over the input
    preceded by receptive_field - 1 zeros, weights read in file order."""
    signal = np.concatenate([np.zeros(_receptive_field(nam) - 1), x])[None]  # (1, L)
    return _valid(nam, signal, Weights(nam["weights"]))[0, -len(x):]


def _valid(nam: dict, signal: np.ndarray, weights: Weights, inner_weights=None) -> np.ndarray:
    """The outputs of a .nam WaveNet's valid convolutions over ``signal`` (1, L): (outputs,
    L - receptive field of its layers + 1); the layers' condition is the input, or the
    condition DSP's valid outputs over the same signal, right-aligned and zero before its
    first (the outputs that read those zeros are not among the caller's last ones).

    Each layer (model version 0.7, NAM core's NAM/wavenet): FiLM wherever the file asks for
    one, u * scale (+ shift) with [scale; shift] a 1x1 convolution of the condition; grouped
    convolutions; a bottleneck N; gating none, gated (act(z[:N]) * gate(z[N:])) or blended
    (g act(z[:N]) + (1 - g) z[:N], g = gate(z[N:])); a head 1x1. As NAM core plays it, the
    layer1x1_post_film acts in blended layers only (its weights are read either way)."""
    layers = nam["config"]["layers"]
    inner = nam["config"].get("condition_dsp")
    cond, y, head = signal, signal, None
    if inner:
        c = _valid(inner, signal, inner_weights or Weights(inner["weights"]))
        cond = np.concatenate([np.zeros((c.shape[0], signal.shape[1] - c.shape[1])), c], 1)
    K = cond.shape[0]
    for lc in layers:
        C, n_layers = lc["channels"], len(lc["dilations"])
        N = lc.get("bottleneck", C)
        l1 = lc.get("layer1x1", {"active": True, "groups": 1})
        h1 = lc.get("head1x1") or {"active": False}
        rw, _ = weights.conv(C, lc["input_size"], 1, bias=False)
        h = rw[:, :, 0] @ y  # rechannel
        acts = _each(lc["activation"], n_layers)
        modes = _each(lc.get("gating_mode", "gated" if lc.get("gated") else "none"), n_layers)
        gates = _each(lc.get("secondary_activation", "Sigmoid"), n_layers)
        for k, d, act, mode, gate in zip(_kernels(lc), lc["dilations"], acts, modes, gates):
            M = 2 * N if mode != "none" else N
            wk, bk = weights.conv(M, C, k, lc.get("groups_input", 1))
            wm, _ = weights.conv(M, K, 1, lc.get("groups_input_mixin", 1), bias=False)
            w1 = weights.conv(C, N, 1, l1["groups"]) if l1["active"] else None
            wh = weights.conv(h1["out_channels"], N, 1, h1["groups"]) if h1["active"] else None
            width = {"conv_pre_film": C, "conv_post_film": M, "input_mixin_pre_film": K,
                     "input_mixin_post_film": M, "activation_pre_film": M,
                     "activation_post_film": N, "layer1x1_post_film": C,
                     "head1x1_post_film": h1.get("out_channels")}
            films = {}
            for pos in FILM_ORDER:
                f = lc.get(pos) or {"active": False}
                if f.get("active", True) and not (pos == "layer1x1_post_film" and not l1["active"]):
                    shift = f.get("shift", True)
                    wf, bf = weights.conv(width[pos] * (2 if shift else 1), K, 1,
                                          f.get("groups", 1))
                    films[pos] = (wf[:, :, 0], bf, shift, width[pos])

            def film(pos, u):
                if pos not in films:
                    return u
                wf, bf, shift, dim = films[pos]
                p = wf @ cond[:, -u.shape[1]:] + bf
                return u * p[:dim] + (p[dim:] if shift else 0.0)

            x_in = film("conv_pre_film", h)
            n = h.shape[1] - (k - 1) * d  # a valid dilated convolution shortens the signal
            z = sum(wk[:, :, j] @ x_in[:, j * d:j * d + n] for j in range(k)) + bk
            z = film("conv_post_film", z)
            z = z + film("input_mixin_post_film", wm[:, :, 0] @ film("input_mixin_pre_film",
                                                                     cond[:, -n:]))
            z = film("activation_pre_film", z)
            if mode == "none":
                a = _act(act)(z)
            elif mode == "gated":
                a = _act(act)(z[:N]) * _act(gate)(z[N:])
            else:
                g = _act(gate)(z[N:])
                a = g * _act(act)(z[:N]) + (1 - g) * z[:N]
            a = film("activation_post_film", a)
            h = h[:, -n:]
            if w1 is not None:
                r = w1[0][:, :, 0] @ a + w1[1]
                h = h + (film("layer1x1_post_film", r) if mode == "blended" else r)
            s = film("head1x1_post_film", wh[0][:, :, 0] @ a + wh[1]) if wh else a
            head = s if head is None else head[:, -n:] + s
        out, hk, hd, bias = _head_layout(lc)
        hw, hb = weights.conv(out, head.shape[0], hk, bias=bias)
        n = head.shape[1] - (hk - 1) * hd  # a causal head convolution (NAM's A2 layout)
        head = sum(hw[:, :, j] @ head[:, j * hd:j * hd + n] for j in range(hk)) + hb
        y = h[:, -n:]
    scale = weights.take(1)[0]
    assert weights.rng is not None or weights.pos == len(weights.values)
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
    assert nam["weights"][-1] == nam["config"]["head_scale"]


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
    (lambda d: d["config"]["layers"][0]["conv_pre_film"].update(active=True, groups=4),
     r"film.conv_pre_film.groups \(4\) must divide the convolution's 1 input"),
    (lambda d: d["config"]["layers"][0]["conv_pre_film"].update(scale=True),
     r"conv_pre_film must be \{active, shift, groups\}"),
    (lambda d: d["config"]["layers"][0].update(groups_input=4), r"groups_input \(4\) must divide"),
    (lambda d: d["config"]["layers"][0]["gating_mode"].__setitem__(1, "mixed"), "gating_mode"),
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
        lc.update(channels=widths[a], bottleneck=widths[a], input_size=widths[a - 1] if a else 1,
                  slimmable=None)
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
                       r"DSP's outputs\)"):
        from_nam(bad)
