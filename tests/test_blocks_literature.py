"""The blocks from the dilated-convolution literature (wavedil/nn/blocks/): causality, streaming ==
forward, exact receptive fields, centring, and each block's own defining property."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from torch import nn

from wavedil.nn.blocks import (
    ASPP1d,
    ASPPState,
    BlockState,
    CCCBlock,
    ContextModule,
    DegriddingStack,
    ESPBlock1d,
    HDCStack,
    KroneckerConv1d,
    NonCausalWaveNet,
    PreFilteredDilatedConv1d,
    SmoothedDilatedConv1d,
)
from wavedil.nn.layers import CausalConv1d
from wavedil.nn.receptive import gridding, receptive_field

C = 4


@dataclass
class Spec:
    make: Callable[[bool], nn.Module]
    in_channels: int
    out_channels: int
    local: int = 0  # channels of local conditioning the block takes


SPECS = {
    "context": Spec(lambda causal: ContextModule(C, causal=causal), C, C),
    "context_unsigned": Spec(lambda causal: ContextModule(C, dilations=(1, 2, 4), causal=causal,
                                                          signed=False), C, C),
    "hdc": Spec(lambda causal: HDCStack(C, rates=(1, 2, 5), repeats=2, causal=causal), C, C),
    "degridding": Spec(lambda causal: DegriddingStack(C, dilations=(1, 2, 4),
                                                      degrid_dilations=(2, 1), causal=causal), C, C),
    "smoothed": Spec(lambda causal: SmoothedDilatedConv1d(C, 5, dilation=3, causal=causal), C, 5),
    "prefiltered": Spec(lambda causal: PreFilteredDilatedConv1d(C, 5, dilation=4, causal=causal),
                        C, 5),
    "kronecker": Spec(lambda causal: KroneckerConv1d(C, 5, 3, r1=4, r2=2, causal=causal), C, 5),
    "ccc": Spec(lambda causal: CCCBlock(C, 6, dilation=3, causal=causal), C, 6),
    "aspp": Spec(lambda causal: ASPP1d(C, 5, rates=(2, 3), causal=causal), C, 5),
    "aspp_no_pooling": Spec(lambda causal: ASPP1d(C, 5, rates=(2, 3), pooling=False,
                                                  causal=causal), C, 5),
    "esp": Spec(lambda causal: ESPBlock1d(6, 6, dilations=(1, 2, 4), causal=causal), 6, 6),
    "wavenet": Spec(lambda causal: NonCausalWaveNet(C, 3, layers=4, stacks=2, residual_channels=6,
                                                    gate_channels=8, skip_channels=6,
                                                    local_channels=2, causal=causal), C, 3, local=2),
}
FINITE_RF = [n for n in SPECS if n != "aspp"]


def scramble(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random learnable weights, every tap non-zero (the identity and mean initialisations
    would hide taps), scaled by fan-in so that activations stay of order 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                fan_in = p[0].numel() if p.dim() > 1 else 4
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) / fan_in ** 0.5)
    return module


def build(name: str, causal: bool, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return scramble(SPECS[name].make(causal)).to(dtype).eval()


def inputs(name: str, B: int, T: int, dtype: torch.dtype = torch.float32, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    spec = SPECS[name]
    x = torch.randn(B, spec.in_channels, T, generator=g, dtype=dtype)
    local = torch.randn(B, spec.local, T, generator=g, dtype=dtype) if spec.local else None
    return x, local


def call(m: nn.Module, x: torch.Tensor, local: torch.Tensor | None) -> torch.Tensor:
    return m(x) if local is None else m(x, local=local)


def kw(local: torch.Tensor | None, s: slice | int) -> dict:
    return {} if local is None else {"local": local[..., s]}


# -- properties every block has -------------------------------------------------------------


@pytest.mark.parametrize("name", SPECS)
def test_causal_outputs_ignore_the_future(name):
    m = build(name, causal=True)
    x, local = inputs(name, 2, 41)
    t0 = 23
    x2 = x.clone()
    x2[..., t0:] = torch.randn(2, x.shape[1], 41 - t0)
    y, y2 = call(m, x, local), call(m, x2, local)
    assert torch.equal(y[..., :t0], y2[..., :t0])
    assert not torch.equal(y[..., t0:], y2[..., t0:])


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("chunk", [1, 7, None])
@pytest.mark.parametrize("name", SPECS)
def test_stream_equals_forward(name, chunk, B):
    m = build(name, causal=True)
    T = 40
    x, local = inputs(name, B, T)
    with torch.no_grad():
        full = call(m, x, local)
        state = m.init_state(B)
        chunk = chunk or T
        ys = []
        for s in range(0, T, chunk):
            y, state = m.stream(x[..., s:s + chunk], state, **kw(local, slice(s, s + chunk)))
            ys.append(y)
    assert full.shape == (B, SPECS[name].out_channels, T)
    assert (torch.cat(ys, -1) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("name", SPECS)
def test_step_equals_forward(name, B):
    m = build(name, causal=True)
    T = 40
    x, local = inputs(name, B, T)
    with torch.no_grad():
        full = call(m, x, local)
        state = m.init_state(B)
        ys = []
        for t in range(T):
            y, state = m.step(x[..., t], state, **kw(local, t))  # (B, C) in, (B, C_out, 1) out
            assert y.shape == (B, SPECS[name].out_channels, 1)
            ys.append(y)
    assert (torch.cat(ys, -1) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("name", ["context", "aspp", "wavenet"])
def test_stream_then_step_then_stream_continues(name):
    m = build(name, causal=True)
    x, local = inputs(name, 2, 30)
    with torch.no_grad():
        full = call(m, x, local)
        state = m.init_state(2)
        a, state = m.stream(x[..., :11], state, **kw(local, slice(0, 11)))
        b, state = m.step(x[..., 11:12], state, **kw(local, slice(11, 12)))
        c, state = m.stream(x[..., 12:], state, **kw(local, slice(12, None)))
    assert (torch.cat([a, b, c], -1) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("name", FINITE_RF)
def test_receptive_field_is_exact(name):
    m = build(name, causal=True, dtype=torch.float64)
    rf = m.receptive_field
    T = rf + 6
    # A batch of inputs: one ReLU that happens to be off cannot hide a dependence in all of them.
    x, local = inputs(name, 8, T, torch.float64)
    t = T - 1
    y = call(m, x, local)[..., t]

    def out_after_bump(offset: int) -> torch.Tensor:
        x2 = x.clone()
        x2[..., t - offset] += 3.0
        return call(m, x2, local)[..., t]

    assert not torch.equal(out_after_bump(rf - 1), y), "the oldest input in the field is not read"
    assert torch.equal(out_after_bump(rf), y), "an input outside the field is read"


@pytest.mark.parametrize("name", FINITE_RF)
def test_non_causal_is_centred(name):
    m = build(name, causal=False, dtype=torch.float64)
    rf = m.receptive_field
    T, t0 = 2 * rf + 11, rf + 5
    x, local = inputs(name, 8, T, torch.float64)
    x2 = x.clone()
    x2[..., t0] += 3.0
    changed = (call(m, x2, local) != call(m, x, local)).any(1).any(0).nonzero().flatten().tolist()
    left = (rf - 1) // 2  # the field reaches ``left`` samples into the future
    # a perturbation at t0 moves the outputs that read it: t0 - (rf - 1 - left) .. t0 + left
    assert (changed[0], changed[-1]) == (t0 - (rf - 1 - left), t0 + left)
    if rf % 2:  # odd spans are centred exactly: the pattern (with any holes) is symmetric
        assert [t0 - t for t in changed] == [t - t0 for t in reversed(changed)]


@pytest.mark.parametrize("T", [1, 17])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("name", SPECS)
def test_output_shape_keeps_length(name, causal, T):
    m = build(name, causal)
    x, local = inputs(name, 3, T)
    assert call(m, x, local).shape == (3, SPECS[name].out_channels, T)


@pytest.mark.parametrize("name", SPECS)
def test_streaming_a_non_causal_block_raises(name):
    m = build(name, causal=False)
    x, local = inputs(name, 2, 5)
    state = build(name, causal=True).init_state(2)
    with pytest.raises(ValueError, match="causal=True"):
        m.init_state(2)
    with pytest.raises(ValueError, match="causal=True"):
        m.stream(x, state, **kw(local, slice(None)))
    with pytest.raises(ValueError, match="causal=True"):
        m.step(x[..., 0], state, **kw(local, 0))


@pytest.mark.parametrize("name", ["hdc", "smoothed", "aspp", "wavenet"])
def test_foreign_or_mis_sized_state_raises(name):
    m = build(name, causal=True)
    x, local = inputs(name, 2, 5)
    with pytest.raises(ValueError, match="shape|batch"):
        m.stream(x, m.init_state(3), **kw(local, slice(None)))
    with pytest.raises(ValueError, match="init_state"):
        m.stream(x, BlockState([]), **kw(local, slice(None)))


def test_state_is_not_in_state_dict_and_clone_is_independent():
    m = build("aspp", causal=True)
    x, _ = inputs("aspp", 2, 12)
    keys = set(m.state_dict())
    state = m.init_state(2)
    _, state = m.stream(x[..., :6], state)
    assert set(m.state_dict()) == keys
    copy = state.clone()
    a, _ = m.stream(x[..., 6:], state)
    b, _ = m.stream(x[..., 6:], copy)
    assert torch.equal(a, b) and isinstance(copy, ASPPState) and copy.count == 12


BAD_ARGS = [
    (lambda: ContextModule(0), "channels"),
    (lambda: ContextModule(4, kernel_size=2, causal=False), "got 2"),
    (lambda: ContextModule(4, dilations=(1, 0)), "[1, 0]"),
    (lambda: HDCStack(4, rates=()), "rates"),
    (lambda: HDCStack(4, repeats=0), "repeats"),
    (lambda: DegriddingStack(4, degrid_dilations=(1, 2)), "[1, 2]"),
    (lambda: DegriddingStack(4, degrid_dilations=(4, 2)), "[4, 2]"),
    (lambda: SmoothedDilatedConv1d(4, 4, dilation=0), "dilation"),
    (lambda: SmoothedDilatedConv1d(4, 4, smoothing_size=4, causal=False), "got 4"),
    (lambda: PreFilteredDilatedConv1d(4, 4, prefilter_size=2, causal=False), "got 2"),
    (lambda: KroneckerConv1d(4, 4, r1=2, r2=3), "r2=3"),
    (lambda: KroneckerConv1d(4, 4, r1=0), "r1"),
    (lambda: CCCBlock(4, 4, local_size=0), "local_size"),
    (lambda: ASPP1d(4, 4, rates=(2, -1)), "[2, -1]"),
    (lambda: ESPBlock1d(4, 8), "in_channels == out_channels"),
    (lambda: ESPBlock1d(4, 3, dilations=(1, 2, 4, 8), residual=False), "out_channels=3"),
    (lambda: NonCausalWaveNet(layers=10, stacks=3), "layers=10"),
    (lambda: NonCausalWaveNet(local_channels=-1), "local_channels"),
]


@pytest.mark.parametrize("make,fragment", BAD_ARGS)
def test_bad_arguments_raise_naming_the_value(make, fragment):
    with pytest.raises(ValueError) as info:
        make()
    assert fragment in str(info.value)


# -- ContextModule ----------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [True, False])
def test_context_module_untrained_is_identity(causal):
    m = ContextModule(C, causal=causal)
    x = torch.randn(2, C, 33)  # signed input
    assert torch.equal(m(x), x)
    if causal:
        state = m.init_state(2)
        ys = [m.step(x[..., t], state)[0] for t in range(33)]
        assert torch.equal(torch.cat(ys, -1), x)


def test_context_module_paper_width_is_identity_on_non_negative_input():
    m = ContextModule(C, signed=False)
    x = torch.randn(2, C, 33)
    assert torch.equal(m(x.relu()), x.relu())
    assert torch.equal(m(x), x.relu())  # the ReLUs clip what the paper's width cannot carry
    assert m.convs[0].out_channels == C and ContextModule(C).convs[0].out_channels == 2 * C


def test_context_module_receptive_field_is_the_papers():
    # Yu and Koltun (2016), table 1: the basic module's receptive field is 67 x 67 at k = 3.
    assert ContextModule(C).receptive_field == 67
    assert ContextModule(C, kernel_size=5).receptive_field == receptive_field([5] * 7 + [1],
                                                                              [1, 1, 2, 4, 8, 16, 1, 1])


# -- HDCStack ---------------------------------------------------------------------------------


def test_hdc_stack_has_no_gridding_holes():
    for rates, repeats in [((1, 2, 5), 1), ((1, 2, 5), 3), ((1, 2, 3), 2)]:
        report = HDCStack(C, rates=rates, repeats=repeats).gridding()
        assert report.holes == [] and report.coverage == 1.0
        assert report.receptive_field == HDCStack(C, rates=rates, repeats=repeats).receptive_field


@pytest.mark.parametrize("rates", [(2, 2, 2), (1, 2, 9), (2, 4, 8)])
def test_hdc_stack_rejects_a_failing_schedule(rates):
    with pytest.raises(ValueError, match=str(list(rates)).replace("[", r"\[").replace("]", r"\]")):
        HDCStack(C, rates=rates)
    assert HDCStack(C, rates=rates, check=False).gridding().holes  # and it really has holes


def test_gridding_holes_are_real_in_the_module():
    """The report's holes are inputs the module never reads; every other offset is read."""
    torch.manual_seed(0)
    grid = scramble(HDCStack(C, rates=(2, 2, 2), check=False)).double()
    smooth = scramble(HDCStack(C, rates=(1, 2, 5))).double()
    for m, expect_holes in ((grid, [1, 3, 5, 7, 9, 11]), (smooth, [])):
        holes = m.gridding().holes
        assert holes == expect_holes
        rf, x = m.receptive_field, torch.randn(8, C, m.receptive_field + 3, dtype=torch.float64)
        t, y = x.shape[-1] - 1, m(x)[..., -1]
        for offset in range(rf):
            x2 = x.clone()
            x2[..., t - offset] += 3.0
            assert torch.equal(m(x2)[..., -1], y) == (offset in holes), offset


# -- DegriddingStack --------------------------------------------------------------------------


def test_degridding_layers_have_no_shortcut():
    """With the last degridding conv zeroed, the output is its ReLU'd bias whatever the input:
    no identity path bypasses the tail."""
    m = scramble(DegriddingStack(C, dilations=(2, 4), degrid_dilations=(2, 1)))
    with torch.no_grad():
        m.degrid[-1].weight.zero_()
    x1, x2 = torch.randn(2, C, 15), torch.randn(2, C, 15)
    assert torch.equal(m(x1), m(x2))
    # whereas the residual units do pass their input on past a zeroed conv
    r = scramble(DegriddingStack(C, dilations=(2, 4), degrid_dilations=(2, 1)))
    with torch.no_grad():
        for unit in r.units:
            unit[1].weight.zero_()
    assert not torch.equal(r(x1), r(x2))
    assert r.layer_dilations == [2, 2, 4, 4, 2, 1]


def test_degridding_tail_fills_the_holes_of_even_dilations():
    m = scramble(DegriddingStack(C, dilations=(2, 4), degrid_dilations=(2, 1))).double()
    assert gridding(3, [2, 2, 4, 4, 2]).holes  # without the dense last layer: holes
    assert gridding(3, m.layer_dilations).holes == []
    rf = m.receptive_field
    x = torch.randn(8, C, rf + 2, dtype=torch.float64)
    t, y = x.shape[-1] - 1, m(x)[..., -1]
    for offset in range(rf):
        x2 = x.clone()
        x2[..., t - offset] += 3.0
        assert not torch.equal(m(x2)[..., -1], y), offset


# -- smoothing --------------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [True, False])
def test_smoothed_conv_starts_as_the_plain_dilated_conv_and_shares_one_kernel(causal):
    m = SmoothedDilatedConv1d(C, 5, kernel_size=3, dilation=3, causal=causal)
    x = torch.randn(2, C, 25)
    assert torch.equal(m(x), m.conv(x))
    size = 3 if causal else 5
    assert m.smoothing_size == size and m.smooth.conv.weight.numel() == size
    with torch.no_grad():
        m.smooth.conv.weight.normal_()
    w = m.smooth.conv.weight.reshape(-1)
    # one kernel for every channel: smoothing channel c equals filtering it alone
    for c in range(C):
        ref = CausalConv1d(1, 1, size, causal=causal, bias=False)
        with torch.no_grad():
            ref.weight.copy_(w.view(1, 1, -1))
        assert torch.allclose(m.smooth(x)[:, c:c + 1], ref(x[:, c:c + 1]), atol=1e-6)


@pytest.mark.parametrize("block", ["smoothed", "prefiltered", "ccc"])
def test_smoothing_reads_every_sample_of_the_field(block):
    m = build(block, causal=True, dtype=torch.float64)
    conv = m.comprehend if block == "ccc" else m.conv
    assert gridding(conv.kernel_size, [conv.dilation]).holes  # the dilated conv alone has holes
    rf = m.receptive_field
    assert rf == conv.kernel_size * conv.dilation  # causal smoothing of d taps tiles the span
    x = torch.randn(8, C, rf + 2, dtype=torch.float64)
    t, y = x.shape[-1] - 1, m(x)[..., -1]
    for offset in range(rf):
        x2 = x.clone()
        x2[..., t - offset] += 3.0
        assert not torch.equal(m(x2)[..., -1], y), offset


def test_prefilter_starts_as_a_depthwise_mean():
    m = PreFilteredDilatedConv1d(C, 5, dilation=4)
    assert m.prefilter.weight.shape == (C, 1, 4)
    x = torch.randn(2, C, 30)
    padded = torch.nn.functional.pad(x, (3, 0))
    mean = torch.stack([padded[..., t:t + 4].mean(-1) for t in range(30)], -1)  # (B, C, T)
    assert torch.allclose(m(x), m.conv(mean), atol=1e-6)
    assert PreFilteredDilatedConv1d(C, 5, dilation=4, causal=False).prefilter_size == 5


# -- KroneckerConv1d --------------------------------------------------------------------------


def kronecker_by_loops(m: KroneckerConv1d, x: torch.Tensor) -> torch.Tensor:
    """y[t] = b + sum_j W[:, :, j] @ sum_{i < r2} x[t - left + j r1 + i], zero outside x."""
    w, b = m.conv.weight, m.conv.bias
    k, r1, r2 = m.kernel_size, m.r1, m.r2
    L = (k - 1) * r1 + r2
    left = L - 1 if m.causal else (L - 1) // 2
    B, _, T = x.shape
    y = b.view(1, -1, 1).repeat(B, 1, T)
    for t in range(T):
        for j in range(k):
            for i in range(r2):
                u = t - left + j * r1 + i
                if 0 <= u < T:
                    y[:, :, t] += x[:, :, u] @ w[:, :, j].t()
    return y


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("k,r1,r2", [(3, 4, 2), (3, 3, 3), (2, 5, 1), (4, 2, 2)])
def test_kronecker_equals_the_explicit_formula(k, r1, r2, causal):
    torch.manual_seed(0)
    m = scramble(KroneckerConv1d(3, 2, k, r1=r1, r2=r2, causal=causal)).double()
    x = torch.randn(2, 3, 23, dtype=torch.float64)
    assert torch.allclose(m(x), kronecker_by_loops(m, x), atol=1e-12)
    # and the dense kernel K (x) F, as one conv, gives the same
    L = m.span
    left = L - 1 if causal else (L - 1) // 2
    dense = torch.nn.functional.conv1d(torch.nn.functional.pad(x, (left, L - 1 - left)),
                                       m.expanded_weight(), m.conv.bias)
    assert torch.allclose(m(x), dense, atol=1e-12)


def test_kronecker_with_r2_equal_r1_skips_nothing():
    m = scramble(KroneckerConv1d(C, 5, 3, r1=3, r2=3)).double()
    assert (m.expanded_weight() != 0).all()
    x = torch.randn(8, C, 20, dtype=torch.float64)
    y = m(x)[..., -1]
    for offset in range(m.receptive_field):
        x2 = x.clone()
        x2[..., 19 - offset] += 1.0
        assert not torch.equal(m(x2)[..., -1], y)


def test_kronecker_factor_is_fixed():
    m = KroneckerConv1d(C, 5)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"conv.conv.weight", "conv.conv.bias"}


# -- ASPP1d -----------------------------------------------------------------------------------


def test_aspp_pooling_reads_the_whole_past_or_the_whole_input():
    assert math.isinf(ASPP1d(C, 5).receptive_field)
    assert ASPP1d(C, 5, rates=(2, 7), pooling=False).receptive_field == 15
    x = torch.randn(8, C, 60, dtype=torch.float64)
    x2 = x.clone()
    x2[..., 0] += 3.0
    causal = build("aspp", causal=True, dtype=torch.float64)
    assert not torch.equal(causal(x)[..., -1], causal(x2)[..., -1])  # 59 samples back: the mean
    x3 = x.clone()
    x3[..., -1] += 3.0
    centred = build("aspp", causal=False, dtype=torch.float64)
    assert not torch.equal(centred(x)[..., 0], centred(x3)[..., 0])


def test_aspp_causal_pooling_is_the_running_mean():
    m = build("aspp", causal=True, dtype=torch.float64)
    x = torch.randn(2, C, 9, dtype=torch.float64)
    means = torch.stack([x[..., : t + 1].mean(-1) for t in range(9)], -1)  # (B, C, T)
    assert torch.allclose(m._global_mean(x, None), means, atol=1e-12)
    state = m.init_state(2, dtype=torch.float64)
    m.stream(x, state)
    assert state.count == 9 and torch.allclose(state.total, x.sum(-1), atol=1e-12)


# -- ESPBlock1d -------------------------------------------------------------------------------


def test_esp_hierarchical_feature_fusion():
    m = build("esp", causal=True)
    x, _ = inputs("esp", 2, 20)
    r = m.reduce(x)
    o1, o2, o4 = (b(r) for b in m.branches)
    assert [b.out_channels for b in m.branches] == [2, 2, 2]
    expect = m.act(x + torch.cat([o1, o2, o2 + o4], 1))
    assert torch.allclose(m(x), expect, atol=1e-6)


# -- NonCausalWaveNet -------------------------------------------------------------------------


def test_wavenet_local_conditioning_is_checked_and_used():
    m = build("wavenet", causal=False)
    x, local = inputs("wavenet", 2, 15)
    with pytest.raises(ValueError, match="local_channels"):
        m(x)
    with pytest.raises(ValueError, match=r"\(2, 2, 15\)"):
        m(x, local=local[..., :14])
    assert not torch.equal(m(x, local=local), m(x, local=local + 1.0))
    assert build("wavenet", causal=False).dilations == [1, 2, 1, 2]
    plain = NonCausalWaveNet(layers=30, stacks=3)  # Parallel WaveGAN's generator body
    assert plain.dilations == [2 ** (i % 10) for i in range(30)]
    assert all(not b.conv.causal for b in plain.blocks)


def test_step_uses_the_ring_buffers():
    """``step`` advances each conv's write index (O(k) per sample) instead of re-copying the
    history as ``stream`` does."""
    m = build("hdc", causal=True)
    state = m.init_state(2)
    for _ in range(3):
        _, state = m.step(torch.randn(2, C), state)
    assert [s.pos for s in state.convs] == [3 % (2 * d) for d in m.dilations]
