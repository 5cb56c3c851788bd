"""The effect layer arrays' training pass (wavedil/train/effect_stack.py):
the model's own forward and gradients to float rounding, for every layout it takes, and the
model's own pass wherever it does not apply."""

import pytest
import torch

from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.native import effect_layer
from wavedil.train.effect_stack import ChunkedArrays


def _array(channels, head, dilations, activation="tanh", kernel=3, head_bias=False, **head_conv):
    return {"channels": channels, "head_size": head, "kernel_size": kernel,
            "dilations": dilations, "activation": activation, "gated": False,
            "head_bias": head_bias, **head_conv}


LAYOUTS = {
    "two tanh arrays": [_array(6, 3, [1, 2, 4, 8]), _array(3, 1, [16, 1, 2], head_bias=True)],
    "leaky relu, kernel per layer": [_array(5, 1, [1, 3, 7], {"name": "leaky_relu",
                                                              "negative_slope": 0.2},
                                            kernel=[6, 2, 4], head_bias=True)],
    "relu, three arrays": [_array(4, 3, [1, 2]), _array(3, 2, [4, 1], "relu"),
                           _array(2, 1, [2, 8], head_bias=True)],
    "head convolutions (A2's)": [_array(9, 4, [1, 2], head_kernel_size=3),
                                 _array(4, 1, [4, 1], {"name": "leaky_relu"}, head_bias=True,
                                        head_kernel_size=5, head_dilation=2)],
}


def _model(arrays, controls, seed=0):
    torch.manual_seed(seed)
    model = EffectNet(EffectConfig(preset=None, arrays=arrays, controls=controls,
                                   head_scale=0.3))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.4)
    return model


KERNEL = effect_layer.load()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("controls, workers", [(0, 1), (2, 2)])
@pytest.mark.parametrize("c_kernel", [True, False])
def test_the_pass_is_the_models_forward_and_backward(name, controls, workers, c_kernel,
                                                      monkeypatch):
    """With the layers in C (effect_layer.c, where it builds: every width here padded to 8
    channels) and as torch's operations."""
    if c_kernel and not KERNEL:
        pytest.skip("no C compiler: the layer kernel does not build")
    calls = []
    if KERNEL:
        monkeypatch.setattr(KERNEL, "forward",
                            lambda *a, f=KERNEL.forward: calls.append(1) or f(*a))
    model = _model(LAYOUTS[name], controls)
    stack = ChunkedArrays(workers=workers, c_kernel=c_kernel)
    x = torch.randn(3, model.receptive_field - 1 + 300) * 0.5
    knobs = torch.rand(3, controls) if controls else None
    assert stack.applies(model, x)
    results = []
    for s in (None, stack):
        model.zero_grad()
        y = model(x, knobs, valid=True, stack=s)
        (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()  # a gradient unlike the output
        results.append((y.detach(), {n: p.grad.clone() if p.grad is not None  # unused: the
                                     else torch.zeros_like(p)  # last layer's 1x1 of the last array
                                     for n, p in model.named_parameters()}))
    (want, want_g), (got, got_g) = results
    assert bool(calls) == c_kernel
    assert got.shape == want.shape == (3, 300)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    for n in want_g:  # float32 sums over hundreds of rows, each theirs to its own rounding
        scale = max(1.0, want_g[n].abs().max().item())
        torch.testing.assert_close(got_g[n], want_g[n], rtol=1e-4, atol=1e-5 * scale, msg=n)


def test_the_full_forward_too():
    """Not only the valid outputs: the padded forward (silence before the input)."""
    model = _model(LAYOUTS["two tanh arrays"], 0)
    x = torch.randn(2, 200)
    torch.testing.assert_close(model(x, stack=ChunkedArrays()), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("change", ["gated", "film", "bottleneck", "no grad", "float64",
                                    "sigmoid"])
def test_the_models_own_pass_where_it_does_not_apply(change):
    arrays = [_array(4, 1, [1, 2], head_bias=True)]
    a = arrays[0]
    if change == "gated":
        a["gated"] = True
    elif change == "film":
        a["film"] = {"activation_post_film": {"shift": True, "groups": 1}}
    elif change == "bottleneck":
        a["bottleneck"] = 2
    elif change == "sigmoid":
        a["activation"] = "sigmoid"
    model = _model(arrays, 0)
    x = torch.randn(2, 100, dtype=torch.float64 if change == "float64" else torch.float32)
    model = model.double() if change == "float64" else model
    stack = ChunkedArrays()
    with torch.set_grad_enabled(change != "no grad"):
        assert not stack.applies(model, x)
        torch.testing.assert_close(model(x, stack=stack), model(x))
