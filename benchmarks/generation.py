"""Generation speed: wavedil's engines beside r9y9's wavenet-vocoder, measured in one run.

Part 1 reproduces the Fast Wavenet comparison (Paine et al. 2016): per-sample cost of naive
generation (a forward pass over the receptive field for every new sample) against cached
generation, as the number of layers grows.

Part 2 measures config A (20 layers = 2 cycles of 1..512, kernel 2, 64 residual, 128 gate,
128 skip channels, 256-class mu-law head, no conditioning) on the CPU: samples/s at several
batch sizes, the speed relative to real time at 16 and 24 kHz, and the ratio to r9y9's
``incremental_forward`` (PyPI wavenet-vocoder==0.1.1, same config, same process).

    pip install -e '.[bench]'
    python benchmarks/generation.py            # full run, a few minutes on two cores
    python benchmarks/generation.py --quick    # smaller counts
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from machine import describe, fma_peak, memory_bandwidth, multiply_adds
from wavedil import WaveNet, WaveNetConfig
from wavedil.generate import generate

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


def part1(quick: bool) -> None:
    print("\n## Per-sample cost against depth (batch 1, CPU, config A widths)\n")
    print("| layers | receptive field | naive ms/sample | cached ms/sample (torch) | cached ms/sample (numba) | naive / cached |")
    print("|---:|---:|---:|---:|---:|---:|")
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
        print(f"| {layers} | {rf} | {1e3 * t_naive:.2f} | {1e3 * res[0]:.3f} | {1e3 * res[1]:.3f} | "
              f"{t_naive / res[1]:.0f}x |")


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


def part2(quick: bool) -> None:
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
    for batch in (1, 16, 32):
        n = (800 if quick else 16000) if batch == 1 else (200 if quick else 4000)
        for engine in ("torch", "numba"):
            generate(model, 100, batch, engine=engine)
            m = n if engine == "numba" else max(200, n // 16)
            sps = m * batch / timed(lambda: generate(model, m, batch, engine=engine), 3)
            rows.append((f"wavedil {engine}", batch, sps, peer_sps))
    threads = torch.get_num_threads()
    print(describe(threads))
    peak, bandwidth = fma_peak(threads), memory_bandwidth()
    macs = multiply_adds(model)  # per sample; also the fp32 weights read once per step
    print(f"\nconfig A: {macs:,} multiply-adds per sample, {4 * macs / 1e6:.1f} MB of fp32 "
          f"weights read per step (all streams of a batch share the read)")
    print("\n| engine | batch | samples/s (all streams) | x real time at 16 kHz | x real time at 24 kHz "
          f"| vs r9y9 (batch 1) | GFLOP/s (of {peak / 1e9:.0f}) | weight GB/s (DRAM read "
          f"{bandwidth / 1e9:.0f}) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, batch, sps, peer_sps in rows:
        ratio = f"{sps / peer_sps:.1f}x" if peer_sps else "n/a"
        print(f"| {name} | {batch} | {sps:,.0f} | {sps / 16000:.2f} | {sps / 24000:.2f} | {ratio} "
              f"| {2 * macs * sps / 1e9:.1f} | {4 * macs * sps / batch / 1e9:.1f} |")
    if peer is None:
        print("\n(r9y9's wavenet-vocoder is not installed: pip install -e '.[bench]')")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sample counts")
    ap.add_argument("--part", type=int, choices=(1, 2), help="run one part only")
    args = ap.parse_args()
    from wavedil.engines import native
    from wavedil.engines.numba_engine import warm_up

    print(f"numba warm-up (compile or load from cache): {warm_up():.1f} s")
    kernel = native.load()
    print(f"numba engine's products: {kernel.status}")
    if kernel.available:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            native.build(kernel.compiler, Path(tmp))
            print(f"building gemm.c from scratch with {kernel.compiler}: "
                  f"{time.perf_counter() - start:.2f} s")
    if args.part in (None, 1):
        part1(args.quick)
    if args.part in (None, 2):
        part2(args.quick)


if __name__ == "__main__":
    main()
