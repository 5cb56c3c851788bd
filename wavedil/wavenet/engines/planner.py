"""The engines' planner: the fastest configuration of the numba engine on this machine,
measured once and remembered, as FFTW's planner does for transforms.

For a model's shape, a batch size, a weight format and the threads numba has, the
candidates (:func:`candidates`) are

- at batch 1: the stream's steps shared by two threads (where the widths allow it), or run
  on one thread;
- at batch > 1: the streams split into one group per thread, or all on one thread;
- with ``weights="fast"``: each weight format whose quality cost was measured within the
  limit (:data:`FAST_FORMATS`) and that this machine runs in fewer bytes or faster
  instructions: bf16 where the C kernel holds bfloat16 panels, bf16-dot where the CPU has
  the bfloat16 dot product (elsewhere it only rounds more), and fp32.

Every candidate of a weight format gives the same samples bit for bit (``tests/test_native.py``);
only the speed changes. :func:`decide` times the candidates for a bounded time
(:data:`BUDGET` seconds, compilation excluded) on a throwaway engine each, keeps the fastest
(a lossier format, or a change from the default, must win by more than the timing's noise:
:func:`best`) and stores it in the planners' file (``wavedil.native.plans``:
``~/.cache/wavedil/plans.json``, delete it to measure afresh), under the CPU model and the
engine's build; a file that is unreadable or was written on another CPU, or an entry of another
build, is ignored with one warning and replaced.

Plans (:data:`PLANS`): "auto" reads the cache and measures on a miss; "measure" measures
again; "cached" reads the cache, else takes the fixed default; "fixed" takes the fixed
default: every thread numba has (the stream shared where the widths allow it) and, for
"fast", the most compact format the kernel runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import numba
import torch

from ...native import kernel as native
from ...native import plans
from ...native.plans import PlanCache
from ..model import WaveNet
from .choice import CHOICES, FAST, PLANS, Choice, Decision
from . import numba_kernels
from .numba_engine import NumbaEngine

FAST_FORMATS = ("fp32", "bf16", "bf16-dot")
"""The formats "fast" chooses among: those whose NLL on the shipped mu-law vocoder's
validation crops was measured within 0.01 bits/sample of fp32's (``benchmarks/generation.py
--part 3``: +0.0002 for bf16, +0.0005 for bf16-dot)."""
BUDGET = 1.5
"""Seconds of timing per decision, compilation and the engines' set-up excluded, so that a
first use stays under 2 s: six candidates ("fast" at batch 1) get about a dozen rounds."""
CHUNK_SECONDS = 0.02
"""Each timed call's length: short enough for several alternating rounds within the budget,
long enough that a call's fixed cost is small beside it."""
ROUNDS = (3, 25)
"""Fewest and most rounds of timing (every candidate once a round, in alternating order)."""
TIE = plans.TIE
"""Rates within this share of the fastest count as equal (:func:`best`)."""


def fast_formats(kernel: native.Kernel | native.Unavailable, packed: bool = True) -> list[str]:
    """The formats of :data:`FAST_FORMATS` that can run faster than fp32 here, most exact
    first: bf16 where the C kernel holds bfloat16 panels, bf16-dot where the CPU also
    multiplies bfloat16 pairs natively (elsewhere bf16-dot runs bf16's kernel on rounded
    inputs: the same speed, more rounding); neither where the model's widths are not whole
    panels (``packed``: ``NumbaEngine.packed``), whose bfloat16 weights are float32 copies."""
    out = ["fp32"]
    if packed and kernel.compact and "bf16" in FAST_FORMATS:
        out.append("bf16")
    if packed and kernel.compact and kernel.dot_native and "bf16-dot" in FAST_FORMATS:
        out.append("bf16-dot")
    return out


def fixed_weights(weights: str, kernel: native.Kernel | native.Unavailable,
                  packed: bool = True) -> str:
    """The format a request stands for without measuring: itself, or for "fast" the most
    compact of :func:`fast_formats`."""
    return fast_formats(kernel, packed)[-1] if weights == FAST else weights


def candidates(pairable: bool, batch_size: int, weights: str, threads: int,
               kernel: native.Kernel | native.Unavailable, packed: bool = True) -> list[Choice]:
    """The configurations worth timing, the fixed default first: ``pairable`` whether the
    model's one stream can be shared (``NumbaEngine.pairable``), ``threads`` numba's,
    ``packed`` whether the model's widths are whole panels (``NumbaEngine.packed``)."""
    formats = fast_formats(kernel, packed) if weights == FAST else [weights]
    default = fixed_weights(weights, kernel, packed)
    formats = [default] + [f for f in formats if f != default]
    counts = [threads]
    if threads > 1 and (batch_size > 1 or pairable):
        counts.append(1)
    elif threads > 1:  # one stream that cannot be shared runs on one thread either way
        counts = [1]
    return [Choice(f, t) for f in formats for t in counts]


def best(rates: dict[Choice, float], default: Choice) -> Choice:
    """The fastest choice, except that one within :data:`TIE` of the fastest is preferred
    when it is more exact (fp32 before bf16 before bf16-dot), then when it is the fixed
    default: a lossier format, or a change from the default, must win by more than the
    timing's noise."""
    top = max(rates.values())
    near = [c for c, r in rates.items() if r >= top * (1 - TIE)]
    return min(near, key=lambda c: (FAST_FORMATS.index(c.weights) if c.weights in FAST_FORMATS
                                    else 0, c != default, -rates[c]))


def build() -> str:
    """The build of the engine's code that a cached choice holds for (``plans.build_id``: the
    C kernel's build, numba's version, the compiled loop's source)."""
    return plans.build_id(native.load().build, Path(numba_kernels.__file__))


def shape_key(model: WaveNet, batch_size: int, weights: str, threads: int) -> str:
    """The cache key of a decision ("wavenet: ..."): what the engine's speed depends on, in
    one string."""
    c = model.config
    parts = [f"layers {c.layers}", f"kernel {c.kernel_size}", f"ring {c.ring_rows}",
             f"residual {c.residual_channels}", f"gate {c.gate_channels}",
             f"skip {c.skip_channels}", f"out {model.head.out_channels}", model.head.kind,
             f"local {c.cond_channels if c.local_channels else 0}",
             f"taps {len(c.pitch_lags or [])}", f"lpc {c.lpc_order}",
             f"batch {batch_size}", weights, f"threads {threads}"]
    return "wavenet: " + ", ".join(parts)


def _workload(model: WaveNet, batch_size: int, n: int):
    """Conditioning and sample context for ``n`` steps, as a generation run makes them: a
    voiced stretch of silent frames (a model with pitch taps computes them where voiced)."""
    if model.conditioner is None:
        return None, None
    hop = model.config.hop_length
    frames = torch.zeros(batch_size, model.config.local_channels, -(-n // hop) + 1)
    if model.config.pitch_lags:
        frames[:, -1] = 1.0  # voiced, at 150 Hz (log2(f0 / 150 Hz) = 0)
    with torch.inference_mode():
        cond, _ = model.conditioner.stream(frames, model.conditioner.init_state(batch_size, "cpu"))
        return cond[..., :n], model.sample_context(frames, n)


def measure(model: WaveNet, batch_size: int, choices: list[Choice],
            kernel: native.Kernel | native.Unavailable, speaker: torch.Tensor | None = None,
            budget: float = BUDGET, max_rounds: int = ROUNDS[1]
            ) -> tuple[dict[Choice, float], float]:
    """Time each choice on a throwaway engine: alternating rounds of sampling, each call
    about :data:`CHUNK_SECONDS` long, for at most ``budget`` seconds and ``max_rounds``
    rounds (and at least :data:`ROUNDS` [0]); each one's samples/s (all streams), compared
    round by round with the first's (``plans.relative_rates``), and the seconds the timing
    took."""
    engines = {c: NumbaEngine(model, batch_size, speaker, kernel, c.weights, c.threads)
               for c in choices}
    k = model.head.n_uniforms
    cond, ctx = _workload(model, batch_size, 8)
    for e in engines.values():  # compile, or load numba's cache
        e.sample(8, torch.rand(8, batch_size, k), cond, 1.0, ctx)
    probe = max(16, min(256, 4096 // batch_size))
    cond, ctx = _workload(model, batch_size, probe)
    u = torch.rand(probe, batch_size, k)
    start = time.perf_counter()
    rate = []
    for e in engines.values():
        t = time.perf_counter()
        e.sample(probe, u, cond, 1.0, ctx)
        rate.append(probe / max(time.perf_counter() - t, 1e-9))
    n = int(min(max(16, min(rate) * CHUNK_SECONDS), 4096))  # steps per timed call
    cond, ctx = _workload(model, batch_size, n)
    u = torch.rand(n, batch_size, k)
    rates: dict[Choice, list[float]] = {c: [] for c in choices}
    rounds = 0
    while rounds < max_rounds and (rounds < ROUNDS[0] or time.perf_counter() - start < budget):
        order = choices if rounds % 2 == 0 else choices[::-1]
        for c in order:
            t = time.perf_counter()
            engines[c].sample(n, u, cond, 1.0, ctx)
            rates[c].append(n * batch_size / max(time.perf_counter() - t, 1e-9))
        rounds += 1
    return plans.relative_rates(rates, choices[0]), time.perf_counter() - start


def decide(model: WaveNet, batch_size: int, weights: str = "fp32", plan: str = "auto",
           kernel: native.Kernel | native.Unavailable | None = None,
           speaker: torch.Tensor | None = None, cache: PlanCache | None = None,
           budget: float = BUDGET) -> Decision:
    """The numba engine's configuration for ``model`` at ``batch_size`` streams with weights
    ``weights`` (a format, or "fast"), by ``plan`` (:data:`PLANS`); ``cache`` default the
    user's (:class:`PlanCache`)."""
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}; got {plan!r}")
    if weights not in CHOICES:
        raise ValueError(f"weights must be one of {', '.join(CHOICES)}; got {weights!r}")
    kernel = native.load() if kernel is None else kernel
    threads = numba.get_num_threads()
    probe = NumbaEngine(model, batch_size, speaker, kernel, "fp32")
    choices = candidates(probe.pairable, batch_size, weights, threads, kernel, probe.packed)
    fixed = choices[0]
    if len(choices) == 1:
        why = ("one thread" if threads == 1 else "nothing to choose: one stream that the "
               "widths do not let two threads share, one format")
        return Decision(fixed, f"the fixed default ({why})", batch_size)
    if not kernel.available:
        return Decision(fixed, f"the fixed default (no C kernel: {kernel.reason})", batch_size)
    if plan == "fixed":
        return Decision(fixed, "the fixed default (plan='fixed')", batch_size)
    cache = cache or PlanCache()

    def read(entry: dict) -> Choice | None:
        try:
            choice = Choice(str(entry["weights"]), int(entry["threads"]))
        except (KeyError, TypeError, ValueError):
            return None
        return choice if choice in choices else None

    def timed() -> tuple[Choice, dict]:
        measured, seconds = measure(model, batch_size, choices, kernel, speaker, budget)
        chosen = best(measured, fixed)
        return chosen, {"weights": chosen.weights, "threads": chosen.threads,
                        "choice": chosen.label(batch_size, probe.pairable),
                        "rates": {c.label(batch_size, probe.pairable): r
                                  for c, r in measured.items()},
                        "seconds": round(seconds, 3)}

    chosen, entry, how = plans.stored_or_measured(
        plan, cache, shape_key(model, batch_size, weights, threads), build(), read, timed)
    if chosen is None:
        return Decision(fixed, "the fixed default (plan='cached': nothing cached for this "
                        "shape)", batch_size)
    rates = {str(k): float(v) for k, v in entry.get("rates", {}).items()}
    if how == "cached":
        how = f"cached ({cache.path}, measured {entry.get('measured')})"
    else:
        how = f"measured in {entry['seconds']:.2f} s"
    return Decision(chosen, how, batch_size, rates)

def tune(loaded, batches: list[int], formats: list[str] | None = None,
         blocks: list[int] | None = None) -> list[dict]:
    """``wavedil tune`` for a WaveNet (``loaded``: ``checkpoint.load_model``'s): measure and
    store the choice at each batch size and weight format (default the checkpoint's
    ``generate.weights``, and fast); one dict per pair: batch, weights, the choice's label,
    how it was made, the rates, ``plan`` (one line). ``blocks`` apply to effects: an error."""
    if blocks:
        raise ValueError("--block applies to effect models; a WaveNet is tuned per --batch")
    model = loaded.model
    formats = formats or list(dict.fromkeys([loaded.generate.weights, FAST]))
    for w in formats:
        if w not in CHOICES:
            raise ValueError(f"--weights must be among {', '.join(CHOICES)}, got {w!r}")
    out = []
    for b in batches:
        speaker = model.speaker_vector(0, b) if model.config.speakers else None
        for w in formats:
            d = decide(model, b, w, "measure", speaker=speaker)
            out.append({"batch": b, "weights": w, "choice": d.choice.label(b), "how": d.how,
                        "rates": d.rates,
                        "plan": f"batch {b}, weights {w}: {d.describe()}"})
    return out
