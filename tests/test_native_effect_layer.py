"""The effect training pass's C layer (effect_layer.c) against the layer's formulas in float64."""

import pytest
import torch

from wavedil.native import effect_layer

KERNEL = effect_layer.load()
pytestmark = pytest.mark.skipif(not KERNEL, reason="no C compiler: the layer kernel does not build")


def _layer(Cp, C, K, P1, seed):
    """Weights of a C-channel layer padded with zeros to Cp, as the pass holds them."""
    torch.manual_seed(seed)

    def padded(*shape, rows=None, cols=None):
        out = torch.zeros(*shape)
        real = torch.randn(*shape) * 0.5
        index = (..., slice(0, rows), slice(0, cols)) if rows else (..., slice(0, cols))
        out[index] = real[index]
        return out

    taps = padded(K, Cp, Cp, rows=C, cols=C)
    return dict(taps=taps, b=padded(Cp, cols=C), wm=padded(P1, Cp, rows=P1, cols=C),
                w1=padded(Cp, Cp, rows=C, cols=C))


def _pre(h, c, w, d, f=lambda t: t.double()):
    """The pre-activation in float64 (``f`` of every input: abs for the sum of the terms'
    sizes, which bounds a float32 sum's rounding)."""
    T, K = h.shape[0], w["taps"].shape[0]
    pre = f(w["b"]) + f(c) @ f(w["wm"])
    for k in range(K):
        lag = (K - 1 - k) * d
        if lag < T:
            pre[lag:] += f(h[:T - lag]) @ f(w["taps"][k])
    return pre


def _within(got, want, size):
    """got (float32) is want (float64) to float32 rounding of a sum whose terms' sizes add up to
    ``size``: a missing or wrong term would be off by a share of it."""
    excess = (got.double() - want).abs() - (1e-5 * size + 1e-7)
    assert excess.max() <= 0, f"off by {excess.max():.3g} beyond float32 rounding"


def _abs(t):
    return t.double().abs()


ACTS = [("tanh", 0.0), ("relu", 0.0), ("leaky_relu", 0.2)]


@pytest.mark.parametrize("Cp, C", [(8, 3), (16, 16), (24, 20), (40, 33)])
@pytest.mark.parametrize("K, d, P1", [(1, 1, 1), (3, 4, 1), (6, 2, 3)])
@pytest.mark.parametrize("act", ACTS)
def test_forward_and_backward_match_the_formulas(Cp, C, K, d, P1, act):
    """Widths of one to five vectors (the kernel's groups of four and what is left), taps
    reaching before the stream's start, a mixer of several inputs."""
    T = 37
    w = _layer(Cp, C, K, P1, seed=Cp + K)
    h = torch.zeros(T, Cp)
    h[:, :C] = torch.randn(T, C) * 1.5
    h[0, :C] = 40.0  # saturates tanh
    c = torch.randn(T, P1)
    b1 = torch.zeros(Cp)
    b1[:C] = torch.randn(C)
    s0 = torch.randn(T, Cp)
    s0[:, C:] = 0
    a, s, out = torch.empty(T, Cp), s0.clone(), torch.empty(T, Cp)
    KERNEL.forward(h, c, w["taps"], w["b"], w["wm"], w["w1"], b1, d, act, a, s, out)
    pre, size = _pre(h, c, w, d), _pre(h, c, w, d, _abs)
    name, slope = act
    a64 = (torch.tanh(pre) if name == "tanh" else torch.relu(pre) if name == "relu"
           else torch.nn.functional.leaky_relu(pre, slope))
    _within(a, a64, size)  # each activation's slope is at most 1
    _within(s, s0.double() + a64, size + s0.double().abs())
    _within(out, h.double() + b1.double() + a.double() @ w["w1"].double(),
            _abs(h) + _abs(b1) + _abs(a) @ _abs(w["w1"]))
    assert (a[:, C:] == 0).all() and (out[:, C:] == 0).all()  # the padding stays silent

    gs, gh = torch.randn(T, Cp), torch.randn(T, Cp)
    gs[:, C:] = gh[:, C:] = 0
    gpre, gb, gb1 = torch.empty(T, Cp), torch.ones(Cp), torch.ones(Cp)
    w1t = w["w1"].t().contiguous()
    KERNEL.backward_pre(gs, gh, a, w1t, act, gpre, gb, gb1)
    name, slope = act
    a_ = a.double()
    deriv = (1 - a_ * a_ if name == "tanh" else (a_ > 0).double() if name == "relu"
             else torch.where(a_ > 0, 1.0, slope).double())
    gpre64 = (gs.double() + gh.double() @ w["w1"].double().t()) * deriv
    _within(gpre, gpre64, (_abs(gs) + _abs(gh) @ _abs(w["w1"]).t()) * deriv.abs())
    _within(gb, 1 + gpre.double().sum(0), 1 + _abs(gpre).sum(0))
    _within(gb1, 1 + gh.double().sum(0), 1 + _abs(gh).sum(0))

    gtaps, gwm, gw1 = torch.ones(K, Cp, Cp), torch.ones(P1, Cp), torch.ones(Cp, Cp)
    KERNEL.backward_weights(h, c, a, gh, gpre, d, gtaps, gwm, gw1)
    for k in range(K):
        lag = (K - 1 - k) * d
        x = torch.zeros(T, Cp, dtype=torch.float64)  # the tap's rows: silence before the start
        x[lag:] = h.double()[:T - lag] if lag < T else x[lag:]
        _within(gtaps[k], 1 + x.t() @ gpre.double(), 1 + x.abs().t() @ _abs(gpre))
    _within(gwm, 1 + c.double().t() @ gpre.double(), 1 + _abs(c).t() @ _abs(gpre))
    _within(gw1, 1 + a.double().t() @ gh.double(), 1 + _abs(a).t() @ _abs(gh))

    expect, size = gh.double().clone(), _abs(gh)
    for k in range(K):
        lag = (K - 1 - k) * d
        if lag < T:
            expect[:T - lag] += gpre.double()[lag:] @ w["taps"][k].double().t()
            size[:T - lag] += _abs(gpre[lag:]) @ _abs(w["taps"][k]).t()
    tapst = w["taps"].transpose(1, 2).contiguous()
    KERNEL.backward_input(gpre, tapst, d, gh)
    _within(gh, expect, size)


def test_refuses_what_it_cannot_read():
    z = torch.zeros(4, 8)
    with pytest.raises(ValueError, match="multiple of 8"):
        KERNEL.backward_input(torch.zeros(4, 6), torch.zeros(1, 6, 6), 1, torch.zeros(4, 6))
    with pytest.raises(ValueError, match="contiguous float32"):
        KERNEL.backward_input(z.double(), torch.zeros(1, 8, 8), 1, z)
    with pytest.raises(ValueError, match="contiguous float32"):
        KERNEL.backward_input(torch.zeros(8, 4).t(), torch.zeros(1, 8, 8), 1, z)
