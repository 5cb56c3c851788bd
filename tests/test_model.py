import pytest
import torch

from wavedil import WaveNet, WaveNetConfig, load_model, save_checkpoint
from wavedil.data import DataConfig

TINY = dict(layers=6, cycle_length=3, residual_channels=8, gate_channels=8, skip_channels=8)
HEADS = [dict(head="categorical", classes=16), dict(head="logistic_mixture", mixtures=2),
         dict(head="gaussian"), dict(head="categorical", classes=16, input="scalar")]
CONDS = [dict(), dict(local_channels=5, cond_channels=6, hop_length=4, upsample_scales=[2, 2]),
         dict(speakers=3, speaker_channels=4)]


def make(head=None, cond=None, **kw):
    torch.manual_seed(0)
    return WaveNet(WaveNetConfig(**TINY, **(head or HEADS[0]), **(cond or {}), **kw)).eval()


def inputs(model, B, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = model.config
    if c.input_kind == "classes":
        x = torch.randint(0, c.classes, (B, T), generator=g)
    else:
        x = torch.rand(B, T, generator=g) * 2 - 1
    local = torch.randn(B, c.local_channels, -(-T // c.hop_length), generator=g) if c.local_channels else None
    speaker = torch.arange(B) % c.speakers if c.speakers else None
    return x, local, speaker


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cond", CONDS)
def test_causal(head, cond):
    model = make(head, cond)
    x, local, spk = inputs(model, 2, 41)
    y = model(x, local, spk)
    assert y.shape == (2, model.head.out_channels, 41)
    x2 = x.clone()
    x2[:, 25:] = inputs(model, 2, 16, seed=1)[0]
    y2 = model(x2, local, spk)
    assert torch.equal(y[..., :25], y2[..., :25])
    assert not torch.allclose(y[..., 25:], y2[..., 25:])


def test_receptive_field_is_exact():
    model = make()
    assert model.receptive_field == 1 + 2 * (1 + 2 + 4)
    x, _, _ = inputs(model, 1, 60)
    y = model(x)
    x2 = x.clone()
    t, rf = 50, model.receptive_field
    x2[:, t - rf + 1] = (x2[:, t - rf + 1] + 1) % 16  # inside: changes output t
    assert not torch.equal(model(x2)[..., t], y[..., t])
    x3 = x.clone()
    x3[:, : t - rf + 1] = (x3[:, : t - rf + 1] + 1) % 16  # outside: does not
    assert torch.equal(model(x3)[..., t], y[..., t])


def test_local_conditioning_is_frame_aligned():
    model = make(cond=CONDS[1])
    x, local, _ = inputs(model, 1, 24)
    y = model(x, local)
    local2 = local.clone()
    local2[..., 3] += 1.0  # frame 3 conditions samples 12.. onwards
    y2 = model(x, local2)
    assert torch.equal(y[..., :12], y2[..., :12])
    assert not torch.allclose(y[..., 12:16], y2[..., 12:16])


@pytest.mark.parametrize("B,T", [(1, 1), (3, 17), (2, 101)])
def test_odd_shapes(B, T):
    model = make(HEADS[1], CONDS[1])
    x, local, _ = inputs(model, B, T)
    assert model(x, local).shape == (B, 6, T)


@pytest.mark.parametrize("head", HEADS)
def test_gradients_reach_every_parameter(head):
    model = make(head, dict(local_channels=5, cond_channels=6, hop_length=4, speakers=3))
    model.train()
    x, local, spk = inputs(model, 2, 32)
    y = model(x, local, spk)
    target = x[:, 1:] if model.config.input_kind == "classes" else x[:, 1:]
    if model.head.kind == "categorical" and model.config.input_kind == "scalar":
        target = ((x[:, 1:] + 1) / 2 * 15).round().long()
    model.head.nll(y[..., :-1], target).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_checkpoint_round_trip(tmp_path):
    model = make(HEADS[1], CONDS[2], weight_norm=True)
    save_checkpoint(tmp_path / "m.pt", model, data=DataConfig())
    rebuilt = load_model(tmp_path / "m.pt").model
    x, local, spk = inputs(model, 2, 30)
    assert torch.equal(model(x, local, spk), rebuilt(x, local, spk))


@pytest.mark.parametrize("kw,match", [
    (dict(kernel_size=0), "kernel_size"),
    (dict(dilations=[1, 0]), "dilations"),
    (dict(gate_channels=7), "gate_channels"),
    (dict(head="laplace"), "head"),
    (dict(local_channels=4, hop_length=12, upsample_scales=[2, 2]), "hop_length=12"),
    (dict(head="gaussian", input="classes"), "input"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        WaveNetConfig(**{**TINY, **kw})


def test_bad_inputs():
    model = make(HEADS[0], CONDS[1])
    x, local, _ = inputs(model, 2, 20)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(x[0], local)
    with pytest.raises(ValueError, match="fewer than"):
        model(x, local[..., :2])
    with pytest.raises(ValueError, match="needs local"):
        model(x)
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        model(x + 16, local)
    spk_model = make(cond=CONDS[2])
    with pytest.raises(ValueError, match="speaker ids"):
        spk_model(x, None, torch.tensor([0, 3]))
