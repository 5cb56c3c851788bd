"""Generation speed: wavedil's engines beside r9y9's wavenet-vocoder, measured in one run.

Part 1 reproduces the Fast Wavenet comparison (Paine et al. 2016): per-sample cost of naive
generation (a forward pass over the receptive field for every new sample) against cached
generation, as the number of layers grows.

Part 2 measures config A (20 layers = 2 cycles of 1..512, kernel 2, 64 residual, 128 gate,
128 skip channels, 256-class mu-law head, no conditioning) on the CPU: samples/s at several
batch sizes, the speed relative to real time at 16 and 24 kHz, and the ratio to r9y9's
``incremental_forward`` (PyPI wavenet-vocoder==0.1.1, same config, same process); the numba
engine with fp32 weights, the compact bf16 weights (``weights="bf16"``) and bf16 products
(``weights="bf16-dot"``, the CPU's bfloat16 dot product where it has one); then batch 1
with the stream's steps shared by both cores against one core, in turn, and the engine's
set-up time.

Part 3 measures what the compact weights cost in quality: the shipped mu-law vocoder's
validation crops teacher-forced through the numba engine with fp32, bf16 and bf16-dot
weights, the NLL of each (bits per sample, the figure training reports) and the largest logit
difference from fp32.

    pip install -e '.[bench]'
    python benchmarks/generation.py            # full run, a few minutes on two cores
    python benchmarks/generation.py --quick    # smaller counts
    python benchmarks/generation.py --part 3   # the compact weights' quality only

``--write-docs`` also writes each table it prints into docs/results/generation.md
(``benchmarks/docs_page.py``: the table with this command, the date, the commit and the CPU).
"""

from __future__ import annotations

import argparse
import math
import platform
import tempfile
import time
from pathlib import Path

import numba
import torch

import docs_page
from machine import describe, dot_peak, fma_peak, memory_bandwidth, multiply_adds
from wavedil import WaveNet, WaveNetConfig
from wavedil import generate
from wavedil.wavenet.engines.numba_engine import NumbaEngine
from wavedil.native.plans import PlanCache
from wavedil.wavenet.engines.planner import candidates, decide, measure

CONFIG_A = dict(layers=20, cycle_length=10, kernel_size=2, residual_channels=64,
                gate_channels=128, skip_channels=128, head="categorical", classes=256)


def timed(fn, repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@torch.inference_mode()
def naive_generate(model: WaveNet, n: int) -> torch.Tensor:
    """Sample n values by re-running the forward pass on the last receptive field each step."""
    rf = model.receptive_field
    x = torch.full((1, 1), 128, dtype=torch.long)
    for _ in range(n):
        logits = model(x[:, -rf:])[:, :, -1]
        nxt = torch.multinomial(torch.softmax(logits, -1), 1)
        x = torch.cat([x, nxt], 1)
    return x


def show(table: list[str], line: str) -> None:
    """Print a line of a table and keep it (for ``--write-docs``)."""
    print(line, flush=True)
    table.append(line)


def part1(quick: bool) -> dict[str, tuple[list[str], list[str]]]:
    print("\n## Per-sample cost against depth (batch 1, CPU, config A widths)\n")
    table: list[str] = []
    show(table, "| layers | receptive field | naive ms/sample | cached ms/sample (torch) | cached ms/sample (numba) | naive / cached |")
    show(table, "|---:|---:|---:|---:|---:|---:|")
    for layers in (5, 10, 20, 30):
        model = WaveNet(WaveNetConfig(**{**CONFIG_A, "layers": layers})).eval()
        # naive cost is measured at a full receptive field of history
        rf = model.receptive_field
        hist = torch.randint(0, 256, (1, rf))
        n_naive = 5 if quick else 20
        with torch.inference_mode():
            model(hist)
            t_naive = timed(lambda: [model(hist)[:, :, -1] for _ in range(n_naive)]) / n_naive
        n = 400 if quick else 2000
        res = []
        for engine in ("torch", "numba"):
            generate(model, 50, engine=engine)
            res.append(timed(lambda: generate(model, n, engine=engine)) / n)
        show(table, f"| {layers} | {rf} | {1e3 * t_naive:.2f} | {1e3 * res[0]:.3f} | "
             f"{1e3 * res[1]:.3f} | {t_naive / res[1]:.0f}x |")
    return {"depth": (table, [f"torch {torch.__version__}, {torch.get_num_threads()} threads"])}


def r9y9_model():
    try:
        from wavenet_vocoder import WaveNet as R9y9WaveNet
    except ImportError:
        return None
    model = R9y9WaveNet(out_channels=256, layers=20, stacks=2, residual_channels=64,
                        gate_channels=128, skip_out_channels=128, kernel_size=2, dropout=0.0,
                        cin_channels=-1, gin_channels=-1, scalar_input=False)
    model.eval()
    model.make_generation_fast_()
    return model


@torch.inference_mode()
def r9y9_generate(model, n: int) -> None:
    """r9y9's incremental_forward at batch 1: 0.1.1 fails for larger batches (its sampler
    draws with np.random.choice over the flattened batch, and its feedback path reshapes the
    batch away), so its batch-1 rate is its rate at every batch size."""
    model.clear_buffer()
    init = torch.zeros(1, 1, 256)
    init[:, :, 128] = 1.0
    model.incremental_forward(initial_input=init, T=n, softmax=True, quantize=True)


def part2(quick: bool) -> dict[str, tuple[list[str], list[str]]]:
    print("\n## Config A on the CPU\n")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}")
    model = WaveNet(WaveNetConfig(**CONFIG_A)).eval()
    peer = r9y9_model()
    rows = []
    peer_sps = None
    if peer is not None:
        m = 100 if quick else 1000
        r9y9_generate(peer, 10)
        peer_sps = m / timed(lambda: r9y9_generate(peer, m), 2)
        rows.append(("r9y9 wavenet-vocoder 0.1.1 (batch 1 only)", 1, peer_sps, peer_sps))
    cache = PlanCache(Path(tempfile.mkdtemp()) / "plans.json")  # a first use, timed
    first_use = []
    for batch in (1, 16, 32):
        n = (800 if quick else 16000) if batch == 1 else (200 if quick else 4000)
        for engine, weights in (("torch", "fp32"), ("numba", "fp32"), ("numba", "bf16"),
                                ("numba", "bf16-dot"), ("numba", "fast")):
            plan, name = "auto", f"wavedil {engine} {weights}"
            if engine == "numba":
                start = time.perf_counter()
                plan = decide(model, batch, weights, "auto", cache=cache)
                first_use.append(time.perf_counter() - start)
                name += f" ({plan.choice.label(batch)})"
            generate(model, 100, batch, engine=engine, weights=weights, plan=plan)
            m = n if engine == "numba" else max(200, n // 16)
            sps = m * batch / timed(lambda: generate(model, m, batch, engine=engine,
                                                     weights=weights, plan=plan), 3)
            rows.append((name, batch, sps, peer_sps))
    threads = torch.get_num_threads()
    limits = describe(threads)
    print(limits)
    peak, dot, bandwidth = fma_peak(threads), dot_peak(threads), memory_bandwidth()
    macs = multiply_adds(model)  # per sample; also the fp32 weights read once per step
    weights_line = (f"config A: {macs:,} multiply-adds per sample, {4 * macs / 1e6:.1f} MB of fp32 "
                    f"weights ({2 * macs / 1e6:.1f} MB in bf16) read per step (all streams of a "
                    f"batch share the read)")
    print("\n" + weights_line + "\n")
    table: list[str] = []
    show(table, "| engine | batch | samples/s (all streams) | x real time at 16 kHz | x real time at 24 kHz "
         f"| vs r9y9 (batch 1) | GFLOP/s | of the peak (FMA {peak / 1e9:.0f}, bf16 dot "
         f"{dot / 1e9:.0f}) | weight GB/s (DRAM read {bandwidth / 1e9:.0f}) |")
    show(table, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, batch, sps, peer_sps in rows:
        ratio = f"{sps / peer_sps:.1f}x" if peer_sps else "n/a"
        used = name[name.index("(") + 1:] if "(" in name else name  # the format the engine ran
        width = 4 if "fp32" in used else 2  # bytes per weight read
        limit = dot if "bf16-dot" in used and dot else peak  # the products' ceiling
        flops = 2 * macs * sps
        show(table, f"| {name} | {batch} | {sps:,.0f} | {sps / 16000:.2f} | {sps / 24000:.2f} "
             f"| {ratio} | {flops / 1e9:.1f} | {100 * flops / limit:.0f}% | "
             f"{width * macs * sps / batch / 1e9:.1f} |")
    planner_line = (f"the planner's first use (plan auto, an empty cache): {min(first_use):.2f} to "
                    f"{max(first_use):.2f} s per batch size and weights")
    print("\n" + planner_line)
    notes = [f"torch {torch.__version__}, {threads} threads", limits, weights_line, planner_line]
    if peer is None:
        print("\n(r9y9's wavenet-vocoder is not installed: pip install -e '.[bench]')")
        notes.append("r9y9's wavenet-vocoder was not installed: no peer row")
    return {"config-a": (table, notes),
            "default-vs-best": (default_vs_best(model, quick, peak, dot, macs), notes[:2]),
            "shared-stream": (shared_stream(model, quick), notes[:1])}


def default_vs_best(model: WaveNet, quick: bool, peak: float, dot: float, macs: int) -> list[str]:
    """The planner's default against the best candidate, per batch size and weights: the
    choice that a first use makes (plan auto, an empty cache: planner.BUDGET of timing) and
    every candidate, timed again for longer in alternating rounds in one process (the
    planner's own timing loop, a longer budget)."""
    from wavedil.native import kernel as native

    print()
    table: list[str] = []
    show(table, "| batch | weights | the default (plan auto, first use) | its samples/s | the best "
         "candidate | its samples/s | default / best | of the peak (the default's format) |")
    show(table, "|---:|---|---|---:|---|---:|---:|---:|")
    kernel = native.load()
    for batch in (1, 32):
        for weights in ("fp32", "bf16", "bf16-dot", "fast"):
            cache = PlanCache(Path(tempfile.mkdtemp()) / "plans.json")
            chosen = decide(model, batch, weights, "auto", cache=cache).choice
            probe = NumbaEngine(model, batch, weights="fp32")
            choices = candidates(probe.pairable, batch, weights, numba.get_num_threads(), kernel,
                                 probe.packed)
            rates, _ = measure(model, batch, choices, kernel, budget=1.5 if quick else 6.0,
                               max_rounds=1000)
            top = max(choices, key=lambda c: rates[c])
            limit = dot if chosen.weights == "bf16-dot" and dot else peak
            show(table, f"| {batch} | {weights} | {chosen.label(batch)} | {rates[chosen]:,.0f} | "
                 f"{top.label(batch)} | {rates[top]:,.0f} | {rates[chosen] / rates[top]:.2f} | "
                 f"{100 * 2 * macs * rates[chosen] / limit:.0f}% |")
    return table


def shared_stream(model: WaveNet, quick: bool) -> list[str]:
    """Batch 1 with the stream's steps shared by both cores against one core (the engine's
    ``paired``), in turn in one process, 1,600-sample chunks as ``generate`` makes them; and
    what making an engine costs."""

    print()
    table: list[str] = []
    show(table, "| batch 1, numba engine | weights | shared by 2 cores, samples/s (median) | "
         "one core | shared / one, per round (min, median, max) | engine set-up, ms |")
    show(table, "|---|---|---:|---:|---|---:|")
    n, rounds = (1600, 4) if quick else (8000, 10)
    u = torch.rand(n, 1, 1, generator=torch.Generator().manual_seed(0))
    for weights in ("fp32", "bf16", "bf16-dot"):
        setup = timed(lambda: NumbaEngine(model, 1, weights=weights), 5)
        engines = {"shared": NumbaEngine(model, 1, weights=weights, threads=2),
                   "one": NumbaEngine(model, 1, weights=weights, threads=1)}
        if not engines["shared"].paired:
            show(table, f"| | {weights} | (not shared: no C kernel or one numba thread) | | | |")
            continue
        rates = {k: [] for k in engines}
        for e in engines.values():
            e.sample(200, u[:200])
        for r in range(rounds):
            for k in (("shared", "one") if r % 2 == 0 else ("one", "shared")):
                def run(e=engines[k]):
                    for lo in range(0, n, 1600):
                        e.sample(min(1600, n - lo), u[lo:lo + 1600])
                rates[k].append(n / timed(run))
        ratios = sorted(a / b for a, b in zip(rates["shared"], rates["one"]))
        med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
        show(table, f"| | {weights} | {med['shared']:,.0f} | {med['one']:,.0f} | {ratios[0]:.2f}, "
             f"{ratios[len(ratios) // 2]:.2f}, {ratios[-1]:.2f} | {1e3 * setup:.1f} |")
    return table


@torch.inference_mode()
def part3(checkpoint: str, limit: int) -> dict[str, tuple[list[str], list[str]]]:
    """The compact weights' cost in quality on a trained model's validation crops."""
    from wavedil.checkpoint import load_checkpoint, load_model
    from wavedil.data import FixedCrops
    from wavedil.wavenet.engines import make_engine
    from wavedil.train.objective import collate
    from wavedil.train.prepare import prepare_data
    from wavedil.train.recipe import recipe_from_dict

    print(f"\n## Compact weights: quality ({checkpoint}, validation crops, numba engine)\n")
    stored = load_checkpoint(checkpoint)["recipe"]
    recipe = recipe_from_dict({k: stored[k] for k in ("data", "model", "generate", "train")
                               if k in stored})
    data = prepare_data(recipe, quiet=True)
    crops = FixedCrops(data, data.validation, recipe.train.validation_crops)
    model = load_model(checkpoint).model
    if model.config.input_kind != "classes" or model.config.pre_emphasis:
        raise SystemExit("part 3 reads a class-input model without pre-emphasis (pretrained:mulaw)")
    crop = data.config.crop
    nll = {"fp32": [], "bf16": [], "bf16-dot": []}
    worst = dict.fromkeys(nll, 0.0)
    count = min(limit, len(crops))
    for i in range(count):
        batch = collate([crops[i]])
        v = batch["classes"]  # (1, L): model input 0..L-2, targets 1..L-1
        T = v.shape[1] - 1
        cond = model.upsample(batch["mel"])[..., :T]
        logits = {}
        for weights in nll:
            eng = make_engine("numba", model, 1, None, "auto", weights)
            eng.set_input(v[:, 0])
            out = eng.force(v[:, 1:], cond=cond)  # (T, 1, classes): logits of targets 1..L-1
            logits[weights] = out
            target = v[:, 1:][:, -crop:]
            nll[weights].append(float(model.head.nll(out.permute(1, 2, 0)[..., -crop:], target)
                                      .mean()) / math.log(2))
        for weights in nll:
            worst[weights] = max(worst[weights],
                                 float((logits["fp32"] - logits[weights]).abs().max()))
    mean = {k: sum(x) / len(x) for k, x in nll.items()}
    what = f"{checkpoint}: {count} of the {len(crops)} validation crops, {crop} samples each"
    print(what + ":\n")
    table: list[str] = []
    show(table, "| weights | NLL, bits/sample | against fp32 | largest logit difference from fp32 |")
    show(table, "|---|---:|---:|---:|")
    for weights in nll:
        show(table, f"| {weights} | {mean[weights]:.4f} | {mean[weights] - mean['fp32']:+.4f} | "
             f"{worst[weights]:.4f} |")
    return {"compact-weights-quality": (table, [what])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sample counts")
    ap.add_argument("--part", type=int, choices=(1, 2, 3), help="run one part only")
    ap.add_argument("--checkpoint", default="pretrained:mulaw",
                    help="part 3's model (a class-input WaveNet with its recipe's data)")
    ap.add_argument("--crops", type=int, default=16, help="part 3's validation crops")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the tables into docs/results/generation.md")
    args = ap.parse_args()
    from wavedil.native import kernel as native
    from wavedil.wavenet.engines.numba_engine import warm_up

    print(f"numba warm-up (compile or load from cache): {warm_up():.1f} s")
    kernel = native.load()
    print(f"numba engine's products: {kernel.status}")
    if kernel.available:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            native.build(kernel.compiler, Path(tmp))
            print(f"building gemm.c from scratch with {kernel.compiler}: "
                  f"{time.perf_counter() - start:.2f} s")
    tables = {}
    if args.part in (None, 1):
        tables.update(part1(args.quick))
    if args.part in (None, 2):
        tables.update(part2(args.quick))
    if args.part in (None, 3):
        tables.update(part3(args.checkpoint, args.crops))
    if args.write_docs:
        for name, (table, notes) in tables.items():
            docs_page.record("generation.md", name, table, notes)


if __name__ == "__main__":
    main()
