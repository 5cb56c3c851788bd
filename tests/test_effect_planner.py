"""The effect engine's planner (wavedil/effect/planner.py) and its two routes: the narrow route
gives whole panels' output bit for bit, and the choice is measured, stored and read back."""

import numpy as np
import pytest
import torch

from wavedil.effect import planner
from wavedil.effect.engine import EffectEngine
from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.native import kernel as native
from wavedil.native.plans import PlanCache

KERNEL = native.load()
needs_cc = pytest.mark.skipif(not KERNEL.available, reason=KERNEL.status)


def _model(preset: str | None = "nano", controls: int = 0) -> EffectNet:
    torch.manual_seed(2)
    if preset is None:  # widths that take every path of the products: 5, 3 and 1 rows, 9
        # rows; a head convolution (NAM's A2) and a kernel size per layer
        arrays = [{"channels": 9, "head_size": 3, "kernel_size": [3, 2, 4], "dilations": [1, 2, 8],
                   "activation": "tanh", "gated": True, "head_bias": False,
                   "head_kernel_size": 4, "head_dilation": 2},
                  {"channels": 3, "head_size": 1, "kernel_size": 2, "dilations": [4, 1],
                   "activation": "relu", "gated": False, "head_bias": True}]
        m = EffectNet(EffectConfig(preset=None, arrays=arrays, controls=controls))
    else:
        m = EffectNet(EffectConfig(preset=preset, controls=controls))
    for p in m.parameters():
        p.data.normal_(0.0, 0.4)
    return m.eval()


@needs_cc
@pytest.mark.parametrize("preset", [None, "nano", "standard"])
def test_the_narrow_route_gives_the_panels_output_bit_for_bit(preset):
    m = _model(preset, controls=1)
    x = (np.random.default_rng(1).standard_normal((2, 700)) * 0.5).astype(np.float32)
    want = EffectEngine(m, free=300, route="panels").forward(x, [0.3], block=64)
    narrow = EffectEngine(m, free=300, route="narrow")
    for block in (1, 3, 15, 17, 40, 64):
        assert np.array_equal(narrow.forward(x, [0.3], block=block), want), block


@needs_cc
def test_the_route_is_measured_once_then_read_back(tmp_path):
    engine = EffectEngine(_model(None), route="auto")
    cache = PlanCache(tmp_path / "plans.json")
    route, how = planner.decide(engine, 5, "measure", cache=cache, budget=0.02)
    assert route in ("panels", "narrow") and how.startswith("measured: panels")
    again, how = planner.decide(engine, 5, "auto", cache=cache)
    assert again == route and how.startswith("cached")
    assert planner.decide(engine, 7, "cached", cache=cache)[1].endswith("nothing cached)")
    # a whole number of panels, or no C kernel: nothing to choose, nothing measured
    assert planner.decide(engine, 32, "measure", cache=cache) == (
        "panels", "the fixed default (a whole number of panels)")
    loops = EffectEngine(_model(None), kernel=native.Unavailable("test"))
    assert planner.decide(loops, 5, "measure", cache=cache)[0] == "panels"
    assert sorted(cache.entries()) == [planner.shape_key(engine, 5)]


def test_bad_routes_and_plans_are_named():
    with pytest.raises(ValueError, match="route must be one of auto, panels, narrow"):
        EffectEngine(_model(), route="fastest")
    with pytest.raises(ValueError, match="plan must be one of"):
        planner.decide(EffectEngine(_model()), 5, "sometimes")
