import pytest
import torch

from wavedil import CausalConv1d

KD = [(k, d) for k in (1, 2, 3, 4) for d in (1, 2, 5)]


@pytest.mark.parametrize("k,d", KD)
def test_causal_and_same_length(k, d):
    torch.manual_seed(0)
    conv = CausalConv1d(3, 4, k, d)
    x = torch.randn(2, 3, 37)
    y = conv(x)
    assert y.shape == (2, 4, 37)
    x2 = x.clone()
    x2[..., 20:] = torch.randn(2, 3, 17)
    y2 = conv(x2)
    assert torch.equal(y[..., :20], y2[..., :20])
    assert not torch.allclose(y[..., 20:], y2[..., 20:])


@pytest.mark.parametrize("k,d", KD)
def test_matches_explicit_sum(k, d):
    torch.manual_seed(1)
    conv = CausalConv1d(2, 3, k, d)
    x = torch.randn(1, 2, 23)
    y = conv(x)
    w, b = conv.weight, conv.bias
    for t in (0, 5, 22):
        expect = b.clone()
        for j in range(k):
            tt = t - (k - 1 - j) * d
            if tt >= 0:
                expect += w[:, :, j] @ x[0, :, tt]
        assert torch.allclose(y[0, :, t], expect, atol=1e-6)


def test_non_causal_centres_the_kernel():
    conv = CausalConv1d(1, 1, 3, 2, causal=False, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.zeros(1, 1, 11)
    x[..., 5] = 1.0
    y = conv(x)[0, 0]
    assert y.nonzero().flatten().tolist() == [3, 5, 7]


@pytest.mark.parametrize("k,d", KD)
@pytest.mark.parametrize("groups", [1, 3])
def test_step_equals_forward(k, d, groups):
    torch.manual_seed(2)
    conv = CausalConv1d(3, 6, k, d, groups=groups)
    x = torch.randn(2, 3, 29)
    full = conv(x)
    state = conv.init_state(2)
    ys = []
    for t in range(29):
        y, state = conv.step(x[..., t], state)
        ys.append(y)
    assert (torch.cat(ys, -1) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("k,d", KD)
@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_stream_equals_forward(k, d, chunk):
    torch.manual_seed(3)
    conv = CausalConv1d(3, 4, k, d)
    x = torch.randn(3, 3, 150)
    full = conv(x)
    state = conv.init_state(3)
    ys = []
    for s in range(0, 150, chunk):
        y, state = conv.stream(x[..., s:s + chunk], state)
        ys.append(y)
    assert (torch.cat(ys, -1) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("k,d", KD)
def test_stream_keeps_only_the_first_samples_when_asked(k, d):
    torch.manual_seed(5)
    conv = CausalConv1d(3, 4, k, d)
    x = torch.randn(2, 3, 40)
    full = conv(x)
    state = conv.init_state(2)
    ys = []
    for s in range(0, 40, 7):  # each block with 9 scratch columns after it
        block = x[..., s:s + 7]
        y, state = conv.stream(torch.cat([block, torch.randn(2, 3, 9)], -1), state,
                               keep=block.shape[-1])
        ys.append(y[..., :block.shape[-1]])
    assert (torch.cat(ys, -1) - full).abs().max() <= 1e-5
    with pytest.raises(ValueError, match="keep must be in 0..5, got 6"):
        conv.stream(x[..., :5], state, keep=6)


def test_step_after_stream_continues():
    torch.manual_seed(4)
    conv = CausalConv1d(2, 2, 3, 4)
    x = torch.randn(1, 2, 40)
    full = conv(x)
    state = conv.init_state(1)
    a, state = conv.stream(x[..., :13], state)
    bs = []
    for t in range(13, 40):
        b, state = conv.step(x[..., t], state)
        bs.append(b)
    assert (torch.cat([a] + bs, -1) - full).abs().max() <= 1e-5


def test_weight_norm_and_no_state_in_state_dict():
    conv = CausalConv1d(2, 3, 2, 4, weight_norm=True)
    keys = set(conv.state_dict())
    assert any("original0" in k for k in keys)
    conv.init_state(2)
    assert set(conv.state_dict()) == keys
    x = torch.randn(1, 2, 10)
    y, _ = conv.stream(x, conv.init_state(1))
    assert torch.allclose(y, conv(x), atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="kernel_size"):
        CausalConv1d(1, 1, 0)
    with pytest.raises(ValueError, match="dilation"):
        CausalConv1d(1, 1, 2, dilation=0)
    with pytest.raises(ValueError, match="groups"):
        CausalConv1d(3, 4, 2, groups=2)
    conv = CausalConv1d(2, 2, 2, 2)
    with pytest.raises(ValueError, match=r"\(B, 2, T\)"):
        conv(torch.randn(1, 3, 5))
    with pytest.raises(ValueError, match="batch size"):
        conv.step(torch.randn(3, 2), conv.init_state(2))
    with pytest.raises(ValueError, match="causal"):
        CausalConv1d(1, 1, 3, causal=False).init_state(1)
