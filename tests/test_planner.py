"""The WaveNet engines' planner (wavedil/wavenet/engines/planner.py): its candidates, its use
of the plan cache (tests/test_native_plans.py tests the file itself) and what generation does
with its choice. Speeds are never asserted; what is asserted is that every candidate gives the
same samples and that choices are measured, read back and refused as documented."""

import json
import subprocess
import sys
import warnings

import numba
import pytest
import torch

from wavedil import WaveNet, WaveNetConfig, generate
from wavedil.native import kernel as native
from wavedil.wavenet.engines import planner
from wavedil.wavenet.engines.choice import Choice, Decision
from wavedil.native.plans import PlanCache, PlanCacheWarning
from wavedil.wavenet.engines.planner import candidates, decide

KERNEL = native.load()
needs_cc = pytest.mark.skipif(not KERNEL.available, reason=KERNEL.status)
two_threads = pytest.mark.skipif(numba.get_num_threads() < 2, reason="one numba thread")


def panel_model(**kw) -> WaveNet:
    """Widths whose stream two threads can share (whole panels for each half)."""
    torch.manual_seed(1)
    cfg = dict(layers=4, cycle_length=2, kernel_size=2, residual_channels=32, gate_channels=64,
               skip_channels=32, head="categorical", classes=64)
    return WaveNet(WaveNetConfig(**{**cfg, **kw})).eval()


def test_candidates_put_the_fixed_default_first():
    dot = KERNEL if KERNEL.available and KERNEL.dot_native else None
    # one stream that two threads can share: shared (the default), then one thread
    assert candidates(True, 1, "fp32", 2, KERNEL) == [Choice("fp32", 2), Choice("fp32", 1)]
    # one that they cannot runs on one thread: nothing to time
    assert candidates(False, 1, "bf16", 2, KERNEL) == [Choice("bf16", 1)]
    # a batch: streams split between the threads, or all on one
    assert candidates(False, 8, "fp32", 4, KERNEL) == [Choice("fp32", 4), Choice("fp32", 1)]
    assert candidates(True, 8, "fp32", 1, KERNEL) == [Choice("fp32", 1)]
    # "fast" without a C kernel: fp32 is all there is
    no_cc = native.Unavailable("test")
    assert planner.fast_formats(no_cc) == ["fp32"]
    assert candidates(False, 1, "fast", 2, no_cc) == [Choice("fp32", 1)]
    if dot is not None:  # the most compact format first
        assert planner.fast_formats(dot) == ["fp32", "bf16", "bf16-dot"]
        got = candidates(False, 4, "fast", 2, dot)
        assert got[0] == Choice("bf16-dot", 2) and len(got) == 6
    # widths that are not whole panels hold bfloat16 weights as float32 copies: no gain
    assert planner.fast_formats(KERNEL, packed=False) == ["fp32"]


def test_the_best_must_beat_a_more_exact_or_the_default_choice_by_more_than_noise():
    default, one = Choice("bf16-dot", 2), Choice("bf16-dot", 1)
    exact, half = Choice("fp32", 2), Choice("bf16", 2)
    assert planner.best({default: 100.0, exact: 98.0, half: 99.0}, default) == exact
    assert planner.best({default: 110.0, exact: 100.0, half: 104.0}, default) == default
    assert planner.best({default: 100.0, one: 101.0}, default) == default
    assert planner.best({default: 100.0, one: 120.0}, default) == one


@needs_cc
@two_threads
def test_measure_then_cache_then_fixed(tmp_path):
    model = panel_model()
    cache = PlanCache(tmp_path / "plans.json")
    measured = decide(model, 1, "fp32", "measure", cache=cache, budget=0.05)
    assert measured.how.startswith("measured")
    assert set(measured.rates) == {"fp32, 2 threads (one stream shared)", "fp32, one thread"}
    assert all(r > 0 for r in measured.rates.values())
    stored = json.loads(cache.path.read_text())
    assert stored["cpu"] and len(stored["plans"]) == 1
    assert list(stored["plans"].values())[0]["build"] == planner.build()
    again = decide(model, 1, "fp32", "auto", cache=cache)
    assert again.how.startswith("cached") and again.choice == measured.choice
    assert again.rates == pytest.approx(measured.rates)
    # another batch size is another key: "cached" falls back to the fixed default, saying so
    fallback = decide(model, 4, "fp32", "cached", cache=cache)
    assert fallback.choice == Choice("fp32", numba.get_num_threads())
    assert "nothing cached" in fallback.how
    assert decide(model, 1, "fp32", "fixed", cache=cache).how == "the fixed default (plan='fixed')"


@needs_cc
@two_threads
def test_an_entry_of_another_build_is_ignored_with_one_warning_and_replaced(tmp_path):
    model = panel_model()
    cache = PlanCache(tmp_path / "plans.json")
    first = decide(model, 1, "fp32", "measure", cache=cache, budget=0.02)
    key = planner.shape_key(model, 1, "fp32", numba.get_num_threads())
    entry = cache.entries()[key]
    cache.put(key, "an older build", {k: v for k, v in entry.items() if k != "build"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = decide(model, 1, "fp32", "auto", cache=cache, budget=0.02)
    ours = [str(w.message) for w in caught if issubclass(w.category, PlanCacheWarning)]
    assert len(ours) == 1 and "another build" in ours[0], ours
    assert again.how.startswith("measured") and again.choice in (Choice("fp32", 1),
                                                                 Choice("fp32", 2))
    assert cache.entries()[key]["build"] == planner.build() != "an older build"
    assert first.choice in (Choice("fp32", 1), Choice("fp32", 2))


def test_without_a_choice_to_make_nothing_is_measured(tmp_path):
    cache = PlanCache(tmp_path / "plans.json")
    tiny = WaveNet(WaveNetConfig(layers=2, residual_channels=8, gate_channels=16,
                                 skip_channels=8, classes=16)).eval()
    d = decide(tiny, 1, "fp32", "measure", cache=cache)
    assert d.choice == Choice("fp32", 1) and d.how.startswith("the fixed default")
    d = decide(panel_model(), 2, "fast", "measure", kernel=native.Unavailable("no cc here"),
               cache=cache)
    assert d.choice.weights == "fp32" and "no C kernel: no cc here" in d.how
    assert not cache.path.exists()


@needs_cc
@pytest.mark.parametrize("batch", [1, 3])
def test_every_threads_choice_gives_the_same_samples(batch):
    """The planner changes the speed only: a stream shared by two threads, or a batch split
    between them, draws what one thread draws, bit for bit."""
    model = panel_model(local_channels=5, cond_channels=6, hop_length=4, upsample_scales=[2, 2])
    local = torch.randn(batch, 5, 30)
    out = []
    for threads in (1, 2):
        decision = Decision(Choice("bf16", threads), "test", batch)
        out.append(generate(model, 120, batch, local=local, engine="numba", weights="bf16",
                            plan=decision, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(out[0], out[1])
    assert out[0].unique().numel() > 5


def test_fast_on_the_torch_engine_is_fp32_and_bad_plans_are_refused():
    model = panel_model()
    args = dict(engine="torch", generator=None)
    a = generate(model, 40, weights="fast", **{**args, "generator": torch.Generator().manual_seed(0)})
    b = generate(model, 40, weights="fp32", **{**args, "generator": torch.Generator().manual_seed(0)})
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="plan must be one of auto, measure, cached, fixed"):
        generate(model, 10, plan="fastest")
    with pytest.raises(ValueError, match="weights must be one of fp32, bf16, bf16-dot, fast"):
        generate(model, 10, weights="int8")


def test_importing_wavedil_does_not_import_the_planner():
    code = "import sys, wavedil; print('wavedil.wavenet.engines.planner' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1000:]
    assert r.stdout.strip() == "False"
