"""Incremental inference through the model's own API: step and stream equal the forward."""

import pytest
import torch

from wavedil import GatedResidualBlock, WaveNet, WaveNetConfig

HEADS = [dict(head="categorical", classes=16), dict(head="logistic_mixture", mixtures=2),
         dict(head="gaussian")]
CONDS = [dict(), dict(local_channels=5, cond_channels=6, hop_length=4, upsample_scales=[2, 2]),
         dict(speakers=3, speaker_channels=4)]


def make(kernel_size=2, head=HEADS[0], cond=CONDS[0], **kw):
    torch.manual_seed(0)
    base = dict(layers=6, cycle_length=3, residual_channels=8, gate_channels=8, skip_channels=8)
    cfg = WaveNetConfig(**{**base, **kw}, kernel_size=kernel_size, **head, **cond)
    model = WaveNet(cfg).eval()
    with torch.no_grad():  # non-trivial biases everywhere
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def data(model, B, T):
    g = torch.Generator().manual_seed(5)
    c = model.config
    x = (torch.randint(0, c.classes, (B, T), generator=g) if c.input_kind == "classes"
         else torch.rand(B, T, generator=g) * 2 - 1)
    local = torch.randn(B, c.local_channels, -(-T // c.hop_length), generator=g) if c.local_channels else None
    spk = torch.arange(B) % c.speakers if c.speakers else None
    return x, local, spk


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cond", CONDS)
@pytest.mark.parametrize("B", [1, 3])
def test_step_equals_forward(k, head, cond, B):
    model = make(k, head, cond)
    x, local, spk = data(model, B, 40)
    with torch.no_grad():
        full = model(x, local, spk)
        cond_all = model.upsample(local)[..., :40] if local is not None else None
        state = model.init_state(B)
        outs = []
        for t in range(40):
            y, state = model.step(x[:, t], state, None if cond_all is None else cond_all[..., t], spk)
            outs.append(y)
    assert (torch.stack(outs, -1) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("chunk", [1, 7, 64, 150])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cond", CONDS)
def test_stream_equals_forward(chunk, head, cond):
    model = make(3, head, cond)
    x, local, spk = data(model, 3, 150)
    with torch.no_grad():
        full = model(x, local, spk)
        cond_all = model.upsample(local)[..., :150] if local is not None else None
        state = model.init_state(3)
        outs = []
        for s in range(0, 150, chunk):
            c = None if cond_all is None else cond_all[..., s:s + chunk]
            y, state = model.stream(x[:, s:s + chunk], state, c, spk)
            outs.append(y)
    assert (torch.cat(outs, -1) - full).abs().max() <= 1e-5


def test_appending_input_never_changes_earlier_outputs():
    model = make(2)
    x, _, _ = data(model, 2, 60)
    with torch.no_grad():
        state = model.init_state(2)
        first, state = model.stream(x[:, :30], state.clone())
        again, _ = model.stream(torch.cat([x[:, :30], x[:, 30:]], 1), model.init_state(2))
    # identical up to the conv kernels' float rounding for a different length
    assert (first - again[..., :30]).abs().max() <= 1e-6


def test_state_size_is_sum_of_spans_and_not_in_state_dict():
    model = make(3)
    keys = set(model.state_dict())
    state = model.init_state(4)
    C = model.config.residual_channels
    expected = sum((3 - 1) * d * C * 4 for d in model.config.layer_dilations)
    assert state.numel() == expected
    x, _, _ = data(model, 4, 300)
    with torch.no_grad():
        for t in range(300):
            _, state = model.step(x[:, t], state)
    assert state.numel() == expected
    assert set(model.state_dict()) == keys


def test_block_step_and_stream():
    torch.manual_seed(0)
    block = GatedResidualBlock(4, 6, 5, kernel_size=3, dilation=2, local_channels=3, global_channels=2).eval()
    x, c, g = torch.randn(2, 4, 20), torch.randn(2, 3, 20), torch.randn(2, 2)
    out, skip = block(x, c, g)
    state = block.init_state(2)
    outs = []
    for t in range(20):
        (o, s), state = block.step(x[..., t:t + 1], state, c[..., t:t + 1], g)
        outs.append(torch.cat([o, s], 1))
    assert (torch.cat(outs, -1) - torch.cat([out, skip], 1)).abs().max() <= 1e-5


def test_bad_states():
    model = make(2)
    other = make(2, layers=5)
    x = torch.randint(0, 16, (2,))
    with pytest.raises(ValueError, match="batch size"):
        model.step(x, model.init_state(3))
    with pytest.raises(ValueError, match="layers"):
        model.step(x, other.init_state(2))
    cond_model = make(2, cond=CONDS[1])
    with pytest.raises(ValueError, match="conditioning"):
        cond_model.step(x, cond_model.init_state(2))
