"""Effect speed: samples/s and real-time factor at 48 kHz of Neural Amp Modeler's four WaveNet
sizes, streamed in blocks of 1, 64 and 512 samples on one CPU thread, beside NAM's own Python
model (the ``nam`` extra) run the only way it streams: a forward over the block plus the
receptive field's history, every block. Both in this process, on the same random weights.

    pip install -e '.[nam]'            # optional: the NAM peer column
    python benchmarks/effect_realtime.py [--seconds 2] [--threads 1] [--json out.json]

The issue's target is the standard size above 10x real time at block 64 on one core; the
line "compute bound" prints what the weights' multiply-adds per second would allow at the
machine's measured single-thread matrix speed, so the distance to the limit is visible.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from wavedil.effect import PRESETS, EffectConfig, EffectNet
from wavedil.nam import to_nam

RATE = 48000
BLOCKS = (1, 64, 512)


def macs_per_sample(config: EffectConfig) -> int:
    """Multiply-adds one output sample costs (convolutions, mixers, 1x1s, heads)."""
    total, inp = 0, 1
    for a in config.arrays:
        c, mid = a["channels"], a["channels"] * (2 if a["gated"] else 1)
        total += inp * c + c * a["head_size"]
        total += len(a["dilations"]) * (mid * c * a["kernel_size"] + mid * config.condition_channels
                                        + c * c)
        inp = c
    return total


def wavedil_rate(model: EffectNet, x: torch.Tensor, block: int) -> float:
    """Samples/s of EffectNet.stream over ``x`` in blocks (state set up outside the timing)."""
    state = model.init_state(1)
    with torch.no_grad():
        model.stream(x[:, :block], state)  # warm-up
        start = time.perf_counter()
        for i in range(0, x.shape[1], block):
            model.stream(x[:, i:i + block], state)
    return x.shape[1] / (time.perf_counter() - start)


def nam_rate(nam_model, x: torch.Tensor, block: int, rf: int) -> float:
    """Samples/s of NAM's Python WaveNet streaming with a history buffer: each block is
    computed by a valid forward over the last rf - 1 inputs and the block."""
    history = torch.zeros(1, rf - 1)
    with torch.no_grad():
        start = time.perf_counter()
        for i in range(0, x.shape[1], block):
            chunk = x[:, i:i + block]
            window = torch.cat([history, chunk], dim=1)
            nam_model(window, pad_start=False)
            history = window[:, -(rf - 1):]
    return x.shape[1] / (time.perf_counter() - start)


def matmul_limit() -> float:
    """Multiply-adds per second of a float32 matrix product on this thread (256 x 256)."""
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    for _ in range(5):
        a @ b
    n, start = 200, time.perf_counter()
    for _ in range(n):
        a @ b
    return n * 256 ** 3 / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="audio per measurement")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        from nam.models import init_from_nam
    except ImportError:
        init_from_nam = None
    limit = matmul_limit()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s); matrix product {limit / 1e9:.1f} GMAC/s")
    rows = []
    header = (f"{'size':9} {'weights':>7} {'block':>5} {'wavedil samples/s':>18} "
              f"{'x real time':>11} {'NAM samples/s':>14} {'ratio':>6} {'compute bound x':>15}")
    print(header)
    for name in PRESETS:
        model = EffectNet(EffectConfig(preset=name)).eval()
        peer = init_from_nam(json.loads(json.dumps(to_nam(model)))).eval() if init_from_nam else None
        bound = limit / macs_per_sample(model.config) / RATE
        for block in BLOCKS:
            n = int(args.seconds * RATE) if block > 1 else min(int(args.seconds * RATE), 4000)
            x = torch.randn(1, n) * 0.3
            ours = wavedil_rate(model, x, block)
            theirs = nam_rate(peer, x[:, :max(block * 20, min(n, 8000))], block,
                              model.receptive_field) if peer is not None else None
            rows.append({"size": name, "weights": model.config.parameters, "block": block,
                         "samples_per_s": ours, "real_time": ours / RATE, "nam_samples_per_s": theirs,
                         "compute_bound_real_time": bound})
            print(f"{name:9} {model.config.parameters:>7} {block:>5} {ours:>18,.0f} "
                  f"{ours / RATE:>11.2f} {theirs or 0:>14,.0f} "
                  f"{(ours / theirs if theirs else float('nan')):>6.1f} {bound:>15.0f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "matmul_macs_per_s": limit, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
