"""The compiled effect engine: the model's forward to float precision for every activation,
gated or not, any kernel size, with controls, several streams, blocks of any length across
the history's rewinds, with and without the C kernel; its state and its errors."""

import numpy as np
import pytest
import torch

from wavedil.effect.model import ACTIVATIONS, EffectConfig, EffectNet
from wavedil.native import kernel as native
from wavedil.effect.engine import EffectEngine
from wavedil.effect.nam import from_nam, to_nam
from wavedil.effect.process import process


def _arrays(activation: str, gated: bool) -> list[dict]:
    return [{"channels": 5, "head_size": 3, "kernel_size": 3, "dilations": [1, 2, 4, 16],
             "activation": activation, "gated": gated, "head_bias": False},
            {"channels": 3, "head_size": 1, "kernel_size": 2, "dilations": [8, 1, 32],
             "activation": "tanh", "gated": not gated, "head_bias": True}]


def _model(activation: str = "tanh", gated: bool = False, controls: int = 0) -> EffectNet:
    torch.manual_seed(1)
    m = EffectNet(EffectConfig(preset=None, arrays=_arrays(activation, gated),
                               controls=controls, head_scale=0.5)).eval()
    for p in m.parameters():  # weights large enough that every layer and nonlinearity matters
        p.data.normal_(0.0, 0.6)
    return m


def _reference(m: EffectNet, x: np.ndarray, controls=None) -> np.ndarray:
    """The torch forward in float64: the engine's float32 error is measured against it."""
    m64 = EffectNet(m.config).double().eval()
    m64.load_state_dict(m.state_dict())
    c = None if controls is None else torch.as_tensor(controls, dtype=torch.float64)
    with torch.no_grad():
        return m64(torch.from_numpy(x).double(), c).numpy()


def _close(got: np.ndarray, want: np.ndarray) -> None:
    scale = max(np.abs(want).max(), 1e-3)
    err = np.abs(got - want).max() / scale
    assert err < 2e-5, err


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("gated", [False, True])
def test_blocks_equal_the_forward_for_every_activation(activation, gated):
    m = _model(activation, gated, controls=2)
    controls = np.array([[0.2, 0.9], [0.7, 0.1]], np.float32)
    x = (np.random.default_rng(0).standard_normal((2, 700)) * 0.8).astype(np.float32)
    want = _reference(m, x, controls)
    engine = EffectEngine(m, free=50)  # rewinds every 50 samples; blocks longer are split
    state = engine.init_state(2, controls)
    outs, i = [], 0
    for b in [1, 63, 64, 2, 120, 450]:
        outs.append(engine.stream(x[:, i:i + b], state))
        i += b
    _close(np.concatenate(outs, axis=1), want)
    assert state.samples == 700


@pytest.mark.parametrize("kernel", ["c", "numba"])
@pytest.mark.parametrize("block", [1, 17, 64, 4096])
def test_block_sizes_with_and_without_the_c_kernel(kernel, block):
    m = _model()
    x = (np.random.default_rng(2).standard_normal(3000) * 0.5).astype(np.float32)
    k = native.load() if kernel == "c" else native.Unavailable("test")
    y = EffectEngine(m, kernel=k).forward(x, block=block)
    assert y.shape == x.shape
    _close(y, _reference(m, x[None])[0])


BLOCKS = [1, 7, 16, 17, 31, 64, 100, 4096]


@pytest.mark.parametrize("kernel", ["c", "numba"])
def test_silence_gives_an_exactly_constant_output_for_every_block_size(kernel):
    m = _model(gated=True)  # the first array gated: its sigmoid divides too
    k = native.load() if kernel == "c" else native.Unavailable("test")
    engine = EffectEngine(m, kernel=k)
    silence = np.zeros(5003, np.float32)
    first = engine.forward(silence, block=1)
    assert np.all(first == first[0]) and first[0] != 0  # every sample the same float
    for block in BLOCKS[1:]:
        assert np.array_equal(engine.forward(silence, block=block), first), block


@pytest.mark.parametrize("kernel", ["c", "numba"])
def test_the_output_does_not_depend_on_the_block_size_bit_for_bit(kernel):
    m = _model(controls=1)
    k = native.load() if kernel == "c" else native.Unavailable("test")
    engine = EffectEngine(m, free=300, kernel=k)  # rewinds inside the signal
    x = (np.random.default_rng(6).standard_normal((2, 2000)) * 0.5).astype(np.float32)
    # a decaying signal, then silence: the tail settles on the silent constant exactly
    x[:, 1000:] = 0.0
    first = engine.forward(x, [0.4], block=1)
    _close(first, _reference(m, x, np.full((2, 1), 0.4, np.float32)))
    for block in BLOCKS[1:]:
        assert np.array_equal(engine.forward(x, [0.4], block=block), first), block
    tail = first[:, 1000 + m.receptive_field:]
    assert np.all(tail == tail[:, :1])


def test_a_nam_standard_model_matches_the_torch_forward():
    torch.manual_seed(0)
    m = from_nam(to_nam(EffectNet(EffectConfig(preset="standard"))))  # via the .nam format
    for p in m.parameters():
        p.data.normal_(0.0, 0.3)
    x = (np.random.default_rng(3).standard_normal(6000) * 0.5).astype(np.float32)
    _close(EffectEngine(m).forward(x, block=64), _reference(m, x[None])[0])


def test_a_fresh_state_is_the_state_silence_leaves():
    m = _model()
    engine = EffectEngine(m)
    state = engine.init_state()
    y = engine.stream(np.zeros(200, np.float32), state)
    # after silence the output is the constant the biases make, the same as the torch model's
    with torch.no_grad():
        want = m(torch.zeros(1, 200))[0].numpy()
    np.testing.assert_allclose(y, want, atol=2e-6)
    assert np.ptp(y) < 1e-6


def test_process_engines_agree():
    m = _model(controls=1)
    wave = torch.from_numpy((np.random.default_rng(4).standard_normal(900) * 0.5)
                            .astype(np.float32))
    a = process(m, wave, 64, [0.3], engine="compiled")
    b = process(m, wave, 64, [0.3], engine="torch")
    _close(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="--engine must be one of"):
        process(m, wave, 64, [0.3], engine="fast")


@pytest.mark.parametrize("engine", ["compiled", "torch"])
def test_process_gives_silence_an_exactly_constant_output_after_a_signal_too(engine):
    m = _model(controls=1)
    rf = m.receptive_field
    x = torch.zeros(1003)
    x[:200] = torch.from_numpy((np.random.default_rng(7).standard_normal(200) * 0.5)
                               .astype(np.float32))
    silent = None
    for block in [1, 7, 16, 17, 64, 100]:  # 1003 is no whole number of any but 1
        quiet = process(m, torch.zeros(1003), block, [0.3], engine=engine)
        assert torch.all(quiet == quiet[0]), block
        silent = quiet[0] if silent is None else silent
        assert quiet[0] == silent or engine == "torch"  # torch rounds per block length
        tail = process(m, x, block, [0.3], engine=engine)[200 + rf - 1:]
        assert torch.all(tail == quiet[0]), block


@pytest.mark.parametrize("engine", ["compiled", "torch"])
def test_a_standard_model_gives_silence_an_exactly_constant_output(engine):
    # NAM's standard size: its last head (8 -> 1) is where torch rounded a block's last
    # columns differently (blocks of 17 and 100) before a block ran over whole vectors
    torch.manual_seed(2)
    m = EffectNet(EffectConfig(preset="standard")).eval()
    for p in m.parameters():
        p.data.normal_(0.0, 0.3)
    for block in [1, 16, 17, 64, 100]:
        quiet = process(m, torch.zeros(1003), block, engine=engine)
        assert torch.all(quiet == quiet[0]) and quiet[0] != 0, block


def test_the_compiled_fast_tanh_is_the_torch_one_bit_for_bit():
    from wavedil.effect.model import fast_tanh
    from wavedil.effect import kernels as K

    z = np.concatenate([np.linspace(-12, 12, 24_001, dtype=np.float32),
                        np.float32([0.0, -0.0, 1e-30, 1e4, -1e4])])
    want = fast_tanh(torch.from_numpy(z)).numpy()  # NAM's formula (tests/test_effect.py)
    for n in (1, 17, z.size):  # a lone value; vectors and their remainders
        for zn, wn in ((z[:n], want[:n]), (z[::-1][:n], want[::-1][:n])):
            got = np.empty(n, np.float32)
            K._activate(K.ACTIVATION_CODES["fast_tanh"], False, zn.copy(), got, 1, n, n)
            assert np.array_equal(got, wn), n


@pytest.mark.parametrize("engine", ["compiled", "torch"])
def test_process_tanh_fast_plays_tanh_layers_as_nams_plugin_does(engine):
    m = _model(controls=1)  # tanh layers in both arrays
    fast = EffectNet(EffectConfig(preset=None, arrays=[dict(a, activation="fast_tanh")
                                                       for a in m.config.arrays],
                                  controls=1, head_scale=0.5)).eval()
    fast.load_state_dict(m.state_dict())
    wave = torch.from_numpy((np.random.default_rng(8).standard_normal(900) * 0.5)
                            .astype(np.float32))
    played = process(m, wave, 64, [0.3], engine=engine, tanh="fast").numpy()
    _close(played, _reference(fast, wave.numpy()[None], [[0.3]])[0])
    exact = process(m, wave, 64, [0.3], engine=engine).numpy()
    assert np.abs(played - exact).max() > 1e-4 * np.abs(exact).max()  # the choice matters
    back = process(fast, wave, 64, [0.3], engine=engine, tanh="exact").numpy()
    _close(back, exact)
    with pytest.raises(ValueError, match="--tanh must be one of model, fast, exact"):
        process(m, wave, 64, [0.3], engine=engine, tanh="quick")


def test_bad_input_is_named():
    m = _model(controls=1)
    engine = EffectEngine(m)
    with pytest.raises(ValueError, match="needs 1 control"):
        engine.init_state(1)
    with pytest.raises(ValueError, match=r"controls of shape \(2, 1\)"):
        engine.init_state(2, [[0.1, 0.2], [0.3, 0.4]])
    state = engine.init_state(2, [0.5])
    with pytest.raises(ValueError, match=r"expected \(2, T\) input"):
        engine.stream(np.zeros(10, np.float32), state)
    with pytest.raises(ValueError, match="block must be >= 1"):
        engine.stream(np.zeros((2, 10), np.float32), state, block=0)
    other = EffectEngine(EffectNet(EffectConfig(preset="nano")))
    with pytest.raises(ValueError, match="another model"):
        other.stream(np.zeros((2, 10), np.float32), state)
    with pytest.raises(ValueError, match="free must be >= 1"):
        EffectEngine(m, free=0)


def test_a_processor_starts_every_call_afresh():
    from wavedil.effect.process import Processor

    m = _model()
    wave = torch.from_numpy((np.random.default_rng(5).standard_normal(700) * 0.5)
                            .astype(np.float32))
    for engine in ("compiled", "torch"):
        run = Processor(m, 64, engine=engine)
        first, again = run(wave), run(wave)
        assert torch.equal(first, again) and run.seconds > 0
        _close(first.numpy(), _reference(m, wave.numpy()[None])[0])


@pytest.mark.skipif(not native.load().available, reason="no C kernel")
@pytest.mark.parametrize("preset", [None, "standard", "a2"])
def test_the_taps_product_gives_the_tap_by_tap_output_bit_for_bit(preset):
    """A convolution's taps in one pass of the C kernel (wd_gemm_taps) against the products
    tap by tap: the same output, bit for bit, on both routes (the narrow route's last columns
    go tap by tap)."""
    from dataclasses import replace

    if preset is None:
        m = _model(controls=1)
    else:
        torch.manual_seed(2)
        m = EffectNet(EffectConfig(preset=preset, controls=1)).eval()
    x = (np.random.default_rng(8).standard_normal(1500) * 0.5).astype(np.float32)
    kernel = native.load()
    for route in ("panels", "narrow"):
        fused = EffectEngine(m, free=700, kernel=kernel, route=route)
        tapwise = EffectEngine(m, free=700, kernel=replace(kernel, gemm_taps=0), route=route)
        for block in (17, 64):
            assert np.array_equal(fused.forward(x, [0.2], block=block),
                                  tapwise.forward(x, [0.2], block=block)), (route, block)
