import math

import pytest
import torch

from wavedil import CategoricalHead, GaussianHead, LogisticMixtureHead, bits


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _sig(x):
    return 1 / (1 + math.exp(-x))


def test_categorical_nll_by_hand():
    head = CategoricalHead(3)
    logits = torch.tensor([0.0, math.log(2.0), 0.0]).view(1, 3, 1)
    nll = head.nll(logits, torch.tensor([[1]]))
    assert nll.item() == pytest.approx(math.log(2.0))
    assert bits(nll).item() == pytest.approx(1.0)
    assert head.nll(logits, torch.tensor([[0]])).item() == pytest.approx(math.log(4.0))


def test_categorical_sampler_inverse_cdf():
    head = CategoricalHead(3)
    logits = torch.log(torch.tensor([[0.25, 0.5, 0.25]])).expand(5, 3)
    u = torch.tensor([[0.0], [0.2], [0.3], [0.74], [0.9]])
    assert head.sample(logits, u).tolist() == [0, 0, 1, 1, 2]
    assert head.sample(logits, u, temperature=0.0).tolist() == [1] * 5
    # low temperature sharpens towards the mode
    assert head.sample(logits[1:], u[1:], temperature=0.05).tolist() == [1, 1, 1, 1]


def test_gaussian_nll_by_hand():
    head = GaussianHead(bins=5)  # levels -1, -0.5, 0, 0.5, 1; half bin 0.25
    logits = torch.tensor([0.0, 0.0]).view(1, 2, 1).expand(1, 2, 3)
    target = torch.tensor([[0.5, -1.0, 1.0]])
    nll = head.nll(logits, target)[0]
    assert nll[0].item() == pytest.approx(-math.log(_phi(0.75) - _phi(0.25)), rel=1e-5)
    assert nll[1].item() == pytest.approx(-math.log(_phi(-0.75)), rel=1e-5)
    assert nll[2].item() == pytest.approx(-math.log(1 - _phi(0.75)), rel=1e-5)


def test_logistic_mixture_nll_by_hand():
    head = LogisticMixtureHead(mixtures=2, bins=5)
    # weights log(1/4), log(3/4); means 0 and 0.5; log scales 0 and log(0.5)
    logits = torch.tensor([math.log(0.25), math.log(0.75), 0.0, 0.5, 0.0, math.log(0.5)]).view(1, 6, 1)
    target = torch.tensor([[0.0]])
    p1 = _sig(0.25) - _sig(-0.25)
    p2 = _sig((0.25 - 0.5) / 0.5) - _sig((-0.25 - 0.5) / 0.5)
    expect = -math.log(0.25 * p1 + 0.75 * p2)
    assert head.nll(logits, target).item() == pytest.approx(expect, rel=1e-5)
    # the edge bins take the tails
    edge = -math.log(0.25 * _sig(-0.75) + 0.75 * _sig((-0.75 - 0.5) / 0.5))
    assert head.nll(logits, torch.tensor([[-1.0]])).item() == pytest.approx(edge, rel=1e-5)


def test_continuous_likelihood_sums_to_one_over_bins():
    for head, logits in [(GaussianHead(bins=9), torch.tensor([0.1, -1.0])),
                         (LogisticMixtureHead(3, bins=9), torch.tensor([0.2, -0.1, 0.3, -0.5, 0.1, 0.6, -1.0, -2.0, -0.5]))]:
        levels = torch.linspace(-1, 1, 9).view(1, 9)
        lp = -head.nll(logits.view(1, -1, 1).expand(1, -1, 9), levels)
        assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-5)


def test_continuous_samplers():
    torch.manual_seed(0)
    g = GaussianHead()
    logits = torch.tensor([[0.3, math.log(0.1)]]).expand(20000, 2)
    x = g.sample(logits, torch.rand(20000, 1))
    assert x.mean().item() == pytest.approx(0.3, abs=0.01)
    assert x.std().item() == pytest.approx(0.1, abs=0.01)
    assert g.sample(logits[:2], torch.rand(2, 1), temperature=0.0).tolist() == pytest.approx([0.3, 0.3])
    m = LogisticMixtureHead(2)
    logits = torch.tensor([[0.0, 5.0, -0.5, 0.5, -3.0, -3.0]]).expand(20000, 6)
    x = m.sample(logits, torch.rand(20000, 2))
    frac_high = (x > 0).float().mean().item()
    assert frac_high == pytest.approx(1 / (1 + math.exp(-5.0)), abs=0.01)
    assert m.sample(logits[:1], torch.rand(1, 2), temperature=0.0).item() == pytest.approx(0.5)


def test_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        CategoricalHead().sample(torch.zeros(1, 256), torch.rand(1, 1), temperature=-1.0)


@pytest.mark.parametrize("head", [CategoricalHead(16), LogisticMixtureHead(3), GaussianHead()])
def test_a_temperature_per_row_draws_each_row_as_alone(head):
    torch.manual_seed(0)
    logits = torch.randn(6, head.out_channels)
    u = torch.rand(6, head.n_uniforms)
    temps = torch.tensor([1.0, 0.0, 0.3, 1.0, 0.3, 0.0])
    got = head.sample(logits, u, temps)
    for i, t in enumerate(temps.tolist()):
        assert torch.equal(got[i:i + 1], head.sample(logits[i:i + 1], u[i:i + 1], t))
    assert torch.equal(head.sample(logits, u, torch.full((6,), 0.3)), head.sample(logits, u, 0.3))
    with pytest.raises(ValueError, match="5 temperatures for 6 rows"):
        head.sample(logits, u, temps[:5])
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        head.sample(logits, u, -temps)
