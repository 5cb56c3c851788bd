"""NAM's LSTM layout (wavedil/effect/lstm.py, EffectConfig.lstm): a .nam LSTM read, played and
written back; its output against the file format's LSTM written here from NAM core's
description (per sample: W [x; h] + b, PyTorch's gate order, half a second of pre-warm from
the stored initial state); streaming equals the forward; what it cannot do is refused."""

import json

import numpy as np
import pytest
import torch

from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.effect.nam import NamFormatError, from_nam, load_nam, to_nam
from wavedil.effect.process import process
from wavedil.config import ConfigError


def _lstm(layers=2, hidden=5, rate=8000, seed=0) -> EffectNet:
    torch.manual_seed(seed)
    m = EffectNet(EffectConfig(sample_rate=rate, preset=None,
                               lstm={"layers": layers, "hidden": hidden})).eval()
    for p in m.parameters():
        p.data.normal_(0.0, 0.5)
    return m


def reference_lstm(nam: dict, x: np.ndarray) -> np.ndarray:
    """A .nam LSTM from the format alone, sample by sample in float64, after 0.5 s of zeros."""
    c = nam["config"]
    H, L = c["hidden_size"], c["num_layers"]
    w = np.asarray(nam["weights"], np.float64)
    pos, cells = 0, []
    for layer in range(L):
        inp = c["input_size"] if layer == 0 else H
        n = 4 * H * (inp + H)
        W = w[pos:pos + n].reshape(4 * H, inp + H)
        b = w[pos + n:pos + n + 4 * H]
        h0 = w[pos + n + 4 * H:pos + n + 5 * H]
        c0 = w[pos + n + 5 * H:pos + n + 6 * H]
        pos += n + 6 * H
        cells.append([W, b, h0.copy(), c0.copy()])
    head_w, head_b = w[pos:pos + H], w[pos + H]
    assert pos + H + 1 == w.size
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    out = []
    for v in np.concatenate([np.zeros(int(0.5 * nam["sample_rate"])), x]):
        inp = np.array([v])
        for cell in cells:
            W, b, h, cs = cell
            z = W @ np.concatenate([inp, h]) + b
            i, f, g, o = np.split(z, 4)
            cs = sig(f) * cs + sig(i) * np.tanh(g)
            h = sig(o) * np.tanh(cs)
            cell[2], cell[3] = h, cs
            inp = h
        out.append(head_w @ inp + head_b)
    return np.array(out[int(0.5 * nam["sample_rate"]):])


def test_the_forward_is_the_formats_lstm_after_its_prewarm():
    m = _lstm()
    nam = to_nam(m)
    assert nam["architecture"] == "LSTM" and len(nam["weights"]) == m.config.parameters
    x = np.random.default_rng(0).standard_normal(600) * 2.0
    with torch.no_grad():
        ours = m(torch.tensor(x, dtype=torch.float32)[None])[0].numpy()
    want = reference_lstm(nam, x)
    assert np.abs(ours - want).max() < 1e-5 * max(1.0, np.abs(want).max())
    assert want.std() > 0.01  # a signal that follows its input, not a constant


def test_streaming_equals_the_forward_and_the_file_round_trips(tmp_path):
    m = _lstm(layers=1, hidden=3)
    x = torch.randn(2, 700) * 0.5
    with torch.no_grad():
        whole = m(x)
        state = m.init_state(2, block=64)
        parts = [m.stream(x[:, i:i + k], state)[0] for i, k in ((0, 1), (1, 63), (64, 300),
                                                                (364, 336))]
        torch.testing.assert_close(torch.cat(parts, 1), whole, atol=1e-6, rtol=0)
        # causal: changing the future leaves the past alone
        y = x.clone()
        y[:, 400:] = 0
        assert torch.equal(m(y)[:, :400], whole[:, :400])
    path = tmp_path / "lstm.nam"
    path.write_text(json.dumps(to_nam(m)))
    back = load_nam(path)
    assert back.config.lstm == {"layers": 1, "hidden": 3} and back.config.sample_rate == 8000
    with torch.no_grad():
        torch.testing.assert_close(back(x), whole, atol=0, rtol=0)
    assert to_nam(back)["weights"] == to_nam(m)["weights"]


def test_process_plays_an_lstm_on_torch_and_refuses_what_it_cannot():
    m = _lstm(layers=1, hidden=4)
    x = torch.randn(900) * 0.3
    with torch.no_grad():
        want = m(x[None])[0]
    for block in (1, 64, 100):
        torch.testing.assert_close(process(m, x, block), want, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="--engine compiled cannot run this model: it is an LSTM"):
        process(m, x, 64, engine="compiled")
    with pytest.raises(ValueError, match="--tanh fast plays layer arrays' tanh"):
        process(m, x, 64, tanh="fast")


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["config"].update(input_size=2), "config.input_size is 2"),
    (lambda d: d["config"].update(hidden_size=0), "config.hidden_size must be an integer >= 1"),
    (lambda d: d["weights"].pop(), "holds 155 weights, but its config needs 156"),
])
def test_a_bad_lstm_file_fails_in_one_line(edit, match):
    nam = json.loads(json.dumps(to_nam(_lstm(layers=1, hidden=5))))
    edit(nam)
    with pytest.raises(NamFormatError, match=match):
        from_nam(nam)


def test_the_config_checks_it_and_training_it_is_refused():
    with pytest.raises(ConfigError, match="lstm"):
        EffectConfig(lstm={"layers": 0, "hidden": 3})
    from wavedil.train import recipe_from_dict

    with pytest.raises(ConfigError, match="training NAM's LSTM layout is not supported"):
        recipe_from_dict({"model": {"kind": "effect", "lstm": {"layers": 1, "hidden": 8}},
                          "data": {"input": "embedded"}}, "lstm")
