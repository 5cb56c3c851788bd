"""Gradient clipping at a fixed norm and at a quantile of the run's earlier norms (AutoClip)."""

import math

import pytest
import torch

from wavedil.train import recipe_from_dict
from wavedil.train.clipping import GradientClip


def grads(*values):
    p = torch.nn.Parameter(torch.zeros(len(values)))
    p.grad = torch.tensor(values, dtype=torch.float32)
    return p


def test_the_ceiling_follows_the_run_s_own_norms():
    clip = GradientClip(fixed=0.0, quantile=0.5)
    assert clip.limit() == math.inf  # nothing seen, no fixed ceiling: no clipping
    for norm in (1.0, 2.0, 3.0):
        assert float(clip([grads(norm, 0.0)])) == pytest.approx(norm)  # below the median
    assert clip.limit() == pytest.approx(2.0)
    p = grads(30.0, 40.0)  # norm 50, 25 times the run's median
    assert float(clip([p])) == pytest.approx(50.0)  # the norm before clipping is returned
    assert torch.linalg.vector_norm(p.grad).item() == pytest.approx(2.0, rel=1e-5)
    assert p.grad[0] / p.grad[1] == pytest.approx(0.75)  # scaled, not bent
    assert clip.norms == pytest.approx([1.0, 2.0, 3.0, 50.0])


def test_the_lower_of_the_fixed_and_the_quantile_ceiling_applies():
    clip = GradientClip(fixed=1.5, quantile=0.9)
    assert clip.limit() == 1.5  # the first step: the fixed ceiling only
    clip.norms = [0.1, 0.2, 0.3]
    assert clip.limit() == pytest.approx(0.28)
    clip.norms = [5.0, 6.0]
    assert clip.limit() == 1.5
    assert not GradientClip(0.0, 0.0).enabled and GradientClip(1.0, 0.0).enabled
    fixed = GradientClip(fixed=1.0, quantile=0.0)
    p = grads(3.0, 4.0)
    assert float(fixed([p])) == pytest.approx(5.0)
    assert torch.linalg.vector_norm(p.grad).item() == pytest.approx(1.0, rel=1e-5)
    assert fixed.norms == []  # no quantile, no history to keep (nor to checkpoint)


def test_a_non_finite_norm_is_not_remembered_and_the_state_round_trips():
    clip = GradientClip(fixed=0.0, quantile=0.1)
    clip([grads(3.0, 4.0)])
    clip([grads(float("nan"), 1.0)])
    assert clip.norms == pytest.approx([5.0])
    again = GradientClip(fixed=0.0, quantile=0.1)
    again.load_state_dict(clip.state_dict())
    assert again.norms == clip.norms and again.limit() == clip.limit()
    again.load_state_dict(None)  # a checkpoint from before the option: a fresh history
    assert again.norms == []


def test_the_recipe_refuses_a_quantile_outside_0_1():
    base = {"data": {"path": "embedded"}, "model": {}}
    with pytest.raises(ValueError, match="grad_clip_quantile"):
        recipe_from_dict({**base, "train": {"grad_clip_quantile": 1.0}}, "x")
