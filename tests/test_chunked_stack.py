"""The chunked training pass of the residual stack equals the blocks' own forward and backward."""

import threading

import pytest
import torch

from wavedil import WaveNet, WaveNetConfig
from wavedil.native import gate as gate_kernel
from wavedil.train.chunked_stack import ChunkedStack


def _pass(model, x, local=None, speaker=None, stack=None):
    """Outputs and parameter gradients of the model's forward with the residual stack's pass
    ``stack`` (None: the blocks' own)."""
    model.zero_grad(set_to_none=True)
    out = model(x[:, :-1], local, speaker, stack=stack)
    if out.dtype in (torch.bfloat16, torch.float16):  # under autocast: the loss in float32
        out = out.float()
    loss = model.head.nll(out, x[:, 1:]).mean()
    loss.backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


CASES = {
    "categorical": dict(layers=6, cycle_length=3, residual_channels=8, gate_channels=12,
                        skip_channels=10, head="categorical", classes=32),
    "conditioned, kernel 3, weight norm": dict(
        dilations=[1, 4, 16, 2, 9], kernel_size=3, residual_channels=6, gate_channels=10,
        skip_channels=7, head="logistic_mixture", mixtures=2, local_channels=5, cond_channels=4,
        hop_length=8, speakers=3, speaker_channels=4, weight_norm=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("piece_bytes", [7 * 4 * 12, 1 << 20])
def test_chunked_pass_equals_the_blocks_forward_and_backward(name, piece_bytes):
    torch.manual_seed(0)
    config = WaveNetConfig(**CASES[name])
    model = WaveNet(config).double().train()  # float64: differences are the method's, not rounding
    chunked = ChunkedStack(piece_bytes=piece_bytes, min_stream_values=0)
    T = 61  # several pieces of 7 steps, a dilation (16) longer than a piece
    if config.head == "categorical":
        x = torch.randint(0, config.classes, (3, T + 1))
    else:
        x = torch.rand(3, T + 1, dtype=torch.float64) * 1.8 - 0.9
    local = torch.randn(3, 5, 8, dtype=torch.float64) if config.local_channels else None
    speaker = torch.tensor([0, 2, 1]) if config.speakers else None
    assert chunked.applies(model.blocks, torch.zeros(1, config.residual_channels, 1, dtype=torch.float64))
    out_c, grads_c = _pass(model, x, local, speaker, chunked)
    out_r, grads_r = _pass(model, x, local, speaker)
    torch.testing.assert_close(out_c, out_r, rtol=1e-10, atol=1e-10)
    assert grads_c.keys() == grads_r.keys() and len(grads_r) == len(list(model.parameters()))
    for n in grads_r:
        scale = grads_r[n].abs().max().clamp_min(1e-6)
        assert ((grads_c[n] - grads_r[n]).abs().max() / scale) < 1e-9, n


def test_the_chunked_pass_applies_only_where_it_is_exact_and_pays():
    model = WaveNet(WaveNetConfig(**CASES["categorical"])).train()
    chunked_stack = ChunkedStack()
    h = torch.zeros(1, 8, -(-chunked_stack.min_stream_values // 12))  # 12 gate channels
    assert chunked_stack.applies(model.blocks, h)
    assert not chunked_stack.applies(model.blocks, h[:, :, :-1])  # too short to pay
    with torch.no_grad():
        assert not chunked_stack.applies(model.blocks, h)  # inference takes the plain forward
    assert not chunked_stack.applies(model.blocks, h.half())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the bf16 pass, where gate.c builds
        assert chunked_stack.applies(model.blocks, h) == bool(gate_kernel.load())
        assert not chunked_stack.applies(model.blocks, h.double())
    with torch.autocast("cpu", dtype=torch.float16):
        assert not chunked_stack.applies(model.blocks, h)
    dropout = WaveNet(WaveNetConfig(**CASES["categorical"], dropout=0.1)).train()
    assert not chunked_stack.applies(dropout.blocks, h)
    assert chunked_stack.applies(dropout.eval().blocks, h)  # no dropout outside training


def test_the_workers_give_the_one_thread_results_and_leave_the_thread_count_alone():
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(**CASES["conditioned, kernel 3, weight norm"])).double().train()
    x = torch.rand(5, 41, dtype=torch.float64) * 1.8 - 0.9
    local, speaker = torch.randn(5, 5, 5, dtype=torch.float64), torch.tensor([0, 2, 1, 1, 0])
    threads = torch.get_num_threads()
    results = {}
    for workers in (1, 2, 3):  # 3: streams 0 and 3, 1 and 4, 2 on the three workers
        chunked = ChunkedStack(piece_bytes=7 * 4 * 10, min_stream_values=0, workers=workers)
        results[workers] = _pass(model, x, local, speaker, chunked)
        assert torch.get_num_threads() == threads
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert seen == [threads]  # a thread made later still gets the process's setting
    out_1, grads_1 = results[1]
    for workers in (2, 3):
        out, grads = results[workers]
        torch.testing.assert_close(out, out_1, rtol=1e-12, atol=1e-12)
        for n in grads_1:  # only the order of adding the workers' parameter gradients differs
            torch.testing.assert_close(grads[n], grads_1[n], rtol=1e-11, atol=1e-12)


GATE = gate_kernel.load()


@pytest.mark.skipif(not GATE, reason="no C compiler: the gate kernel does not build")
@pytest.mark.parametrize("name", sorted(CASES) + ["wide gate"])
def test_float32_pass_with_the_c_gate_is_as_accurate_as_the_blocks_own(name, monkeypatch):
    """float32, the gate in C (gate.c): outputs and gradients as close to the float64 result
    as the blocks' own float32 forward and backward are (the torch gate's chunked pass
    likewise); "wide gate" (18 columns a half) runs the kernel's eight-column vectors and its
    padded tail."""
    torch.manual_seed(0)
    kw = CASES.get(name) or dict(CASES["categorical"], gate_channels=36, residual_channels=16)
    config = WaveNetConfig(**kw)
    model = WaveNet(config).train()
    T = 61
    if config.head == "categorical":
        x = torch.randint(0, config.classes, (3, T + 1))
    else:
        x = torch.rand(3, T + 1) * 1.8 - 0.9
    local = torch.randn(3, 5, 8) if config.local_channels else None
    speaker = torch.tensor([0, 2, 1]) if config.speakers else None
    calls = []
    monkeypatch.setattr(GATE, "forward", lambda *a, f=GATE.forward: calls.append(1) or f(*a))
    results = {}
    for how in ("c", "torch", "own"):
        chunked = ChunkedStack(piece_bytes=7 * 4 * config.gate_channels, min_stream_values=0,
                               c_gate=how == "c")
        results[how] = _pass(model, x, local, speaker, chunked if how != "own" else None)
    assert calls, "the C gate was not used"
    double = lambda t: None if t is None or not t.is_floating_point() else t.double()  # noqa: E731
    out_64, grads_64 = _pass(model.double(), double(x) if x.is_floating_point() else x,
                             double(local), speaker)

    def error(how):  # the largest error of the outputs and of any gradient, relative
        out, grads = results[how]
        errs = [((out - out_64).abs().max() / out_64.abs().max()).item()]
        errs += [((grads[n] - grads_64[n]).abs().max() / grads_64[n].abs().max().clamp_min(1e-9))
                 .item() for n in grads_64]
        return max(errs)

    own = error("own")
    assert own < 1e-2  # float32's own distance from float64 here, for scale
    for how in ("c", "torch"):
        assert error(how) <= 2 * own + 1e-6, (how, error(how), own)


@pytest.mark.skipif(not GATE, reason="no C compiler: the gate kernel does not build")
def test_the_bf16_gate_rounds_as_torch_does():
    """gate.c's bfloat16 variants: the float32 kernel on the widened inputs, each output
    rounded to bfloat16 as torch rounds (to nearest, ties to even), column sums in float32."""
    torch.manual_seed(0)
    rows, H = 50, 37  # four vectors of eight and a padded tail of five
    pre = (torch.randn(rows, 2 * H) * 3).bfloat16()
    pre[0, 0] = float("nan")
    bias = torch.randn(2 * H)
    z, ds = torch.empty(rows, H, dtype=torch.bfloat16), torch.empty(rows, 2 * H)
    GATE.forward_bf16(pre, bias, z, ds)
    z32, ds32 = torch.empty(rows, H), torch.empty(rows, 2 * H)
    GATE.forward(pre.float(), bias, z32, ds32)
    torch.testing.assert_close(z, z32.bfloat16(), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(ds, ds32, rtol=0, atol=0, equal_nan=True)
    dz = torch.randn(rows, H).bfloat16()
    dp, colsum = torch.empty(rows, 2 * H, dtype=torch.bfloat16), torch.zeros(2 * H)
    GATE.backward_bf16(ds32[1:], dz[1:], dp[1:], colsum)
    dp32, colsum32 = torch.empty(rows - 1, 2 * H), torch.zeros(2 * H)
    GATE.backward(ds32[1:], dz[1:].float(), dp32, colsum32)
    torch.testing.assert_close(dp[1:], dp32.bfloat16(), rtol=0, atol=0)
    torch.testing.assert_close(colsum, colsum32, rtol=0, atol=0)
    with pytest.raises(ValueError, match="bfloat16"):
        GATE.forward_bf16(pre.float(), bias, z, ds)


@pytest.mark.skipif(not GATE, reason="no C compiler: the gate kernel does not build")
@pytest.mark.parametrize("name", ["categorical", "conditioned, kernel 3"])
def test_bf16_pass_is_at_least_as_accurate_as_autocast_on_the_blocks_own(name, monkeypatch):
    """Under the CPU's bfloat16 autocast (train.precision: bf16) the chunked pass runs its
    products in bfloat16 (chunked_bf16.py): outputs and gradients within bfloat16's reach of
    the float64 result, and no further from it than the blocks' own pass under the same
    autocast. (The logistic-mixture case is left out: its loss's gradient moves by 1e-3 for
    float32's rounding of the outputs, too sensitive for a comparison in bfloat16.)"""
    torch.manual_seed(0)
    kw = dict(CASES["conditioned, kernel 3, weight norm"], head="categorical", classes=32) \
        if name != "categorical" else CASES[name]
    config = WaveNetConfig(**kw)
    model = WaveNet(config).train()
    T = 61
    x = torch.randint(0, config.classes, (3, T + 1))
    local = torch.randn(3, 5, 8) if config.local_channels else None
    speaker = torch.tensor([0, 2, 1]) if config.speakers else None
    calls = []
    monkeypatch.setattr(GATE, "backward_bf16",
                        lambda *a, f=GATE.backward_bf16: calls.append(1) or f(*a))
    chunked = ChunkedStack(piece_bytes=7 * 4 * config.gate_channels, min_stream_values=0)
    results = {}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        results["chunked"] = _pass(model, x, local, speaker, chunked)
        results["own"] = _pass(model, x, local, speaker)
    assert calls, "the bfloat16 pass did not run"
    out_64, grads_64 = _pass(model.double(), x, local.double() if local is not None else None,
                             speaker)

    def error(how):
        out, grads = results[how]
        assert grads.keys() == grads_64.keys()
        errs = [((out.double() - out_64).abs().max() / out_64.abs().max()).item()]
        errs += [((grads[n].double() - grads_64[n]).abs().max()
                  / grads_64[n].abs().max().clamp_min(1e-9)).item() for n in grads_64]
        return max(errs)

    assert error("chunked") < 3e-2, error("chunked")  # bfloat16 keeps 8 bits: about 4e-3 a value
    assert error("chunked") <= error("own"), (error("chunked"), error("own"))
