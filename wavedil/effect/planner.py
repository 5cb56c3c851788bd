"""The effect engine's planner: how blocks of the size a host asks for run fastest here.

A plugin's host fixes the block (its buffer: 1 to 2,048 samples), and the compiled engine
(:mod:`wavedil.effect.engine`) runs every product over whole 16-column panels so that the output
does not depend on the block size. A block that is no whole number of panels can instead run its
last columns by the C kernel's narrow route (``gemm.c``'s ``wd_gemm_narrow``, which sums each
column as the panels do: the same output bit for bit). Which is faster depends on the block,
the model's widths and the CPU (a block of one sample of NAM's standard model: the narrow route;
12 samples of the same model, or one of the nano size: whole panels), so :func:`decide` times
both on the model for a moment (:data:`BUDGET`) the first time a block size is asked for, and
keeps the answer in the planners' file (``wavedil.native.plans``) under the model's shape, the
block and the engine's build. The engine runs on one thread, as a plugin's audio thread does.

Plans: "auto" (read the file, measure on a miss), "measure", "cached" (never measure: whole
panels unless the file has an answer) or "fixed" (whole panels).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..native import plans
from ..native.plans import PLANS, PlanCache
from . import kernels

ROUTES = ("panels", "narrow")
BUDGET = 0.25
"""Seconds of timing per decision."""
TIE = plans.TIE
"""The narrow route must be faster by more than this share to be chosen: within it the two
are equal to the timing's noise, and whole panels are the fixed default."""


def build(kernel) -> str:
    """The build of the engine's code a stored answer holds for."""
    return plans.build_id(kernel.build, Path(kernels.__file__))


def shape_key(engine, block: int) -> str:
    """The cache key: the model's arrays (channels, head, kernel, layers, activation, gating),
    its controls and the block size."""
    config = engine.model.config
    arrays = "; ".join(f"{a['channels']}x{a['head_size']} k{a['kernel_size']} "
                       f"{len(a['dilations'])} {a['activation']}{' gated' if a['gated'] else ''}"
                       for a in config.arrays)
    return f"effect: {arrays}, controls {config.controls}, block {block}"


def candidates(engine, block: int) -> list[str]:
    """The routes worth timing for ``block``, the fixed default first: the narrow route only
    where the block is no whole number of panels and the C kernel has it."""
    if engine.kernel.gemm == 0 or engine.kernel.gemm_narrow == 0 or block % kernels.PANEL == 0:
        return ["panels"]
    return ["panels", "narrow"]


def measure(engine, block: int, budget: float = BUDGET) -> dict[str, float]:
    """Samples/s of each route for ``block``: alternating rounds over a fresh state, compared
    round by round (the median of each route's ratio to whole panels')."""
    n = block * max(1, 4096 // block)  # whole blocks, a few ms each
    x = (np.random.default_rng(0).standard_normal((1, n)) * 0.3).astype(np.float32)
    state = engine.blank_state()
    rates: dict[str, list[float]] = {r: [] for r in ROUTES}
    start, rounds = time.perf_counter(), 0
    while rounds < 3 or (time.perf_counter() - start < budget and rounds < 50):
        for route in (ROUTES if rounds % 2 == 0 else ROUTES[::-1]):
            t = time.perf_counter()
            engine.run_blocks(x, state, block, route)
            rates[route].append(n / max(time.perf_counter() - t, 1e-9))
        rounds += 1
    return plans.relative_rates(rates, "panels")


def decide(engine, block: int, plan: str = "auto", cache: PlanCache | None = None,
           budget: float = BUDGET) -> tuple[str, str]:
    """The route for blocks of ``block`` samples on ``engine`` (an ``EffectEngine``), and
    how it was chosen, in a few words."""
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}; got {plan!r}")
    options = candidates(engine, block)
    if len(options) == 1 or plan == "fixed":
        why = "plan='fixed'" if len(options) > 1 else (
            "a whole number of panels" if engine.kernel.gemm else "numba's loops")
        return "panels", f"the fixed default ({why})"
    cache = cache or PlanCache()

    def timed() -> tuple[str, dict]:
        rates = measure(engine, block, budget)
        route = "narrow" if rates["narrow"] > rates["panels"] * (1 + TIE) else "panels"
        return route, {"route": route, "choice": f"route {route}", "rates": rates}

    route, entry, how = plans.stored_or_measured(
        plan, cache, shape_key(engine, block), build(engine.kernel),
        lambda entry: entry.get("route") if entry.get("route") in ROUTES else None, timed)
    if route is None:
        return "panels", "the fixed default (plan='cached': nothing cached)"
    if how == "cached":
        return route, f"cached (measured {entry.get('measured')})"
    return route, "measured: " + ", ".join(f"{r} {v / engine.model.config.sample_rate:.1f}x "
                                           "real time" for r, v in entry["rates"].items())
