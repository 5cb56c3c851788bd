"""Effect speed: samples/s and real-time factor at 48 kHz of Neural Amp Modeler's four WaveNet
sizes, streamed in blocks of 1, 16, 64 and 512 samples on one CPU thread, by the compiled
effect engine (``wavedil process``'s default) and by the torch eager path
(``EffectNet.stream``), beside NAM's own Python model (the ``nam`` extra) run the only way it
streams: a forward over the block plus the receptive field's history, every block. All in this
process, on the same random weights; the compiled engine's output is checked against the eager
one's. With ``--nam-core BUILD`` (a cmake build folder of NeuralAmpModelerCore holding
``tools/benchmodel_bufsize``; once per build, e.g. one as its CMake builds it and one with
``-DCMAKE_CXX_FLAGS=-march=native``), NAM core, the C++ engine inside NAM's plugin, plays the
same weights (written as ``.nam`` files) in the same blocks on one thread, with its fast tanh
as its plugin plays it; each build is named by the compiler flags its CMakeCache.txt records.
The compiled engine and each NAM core build are timed in turn ``--repeats`` times and each
keeps its best pass, so that a host whose speed drifts (shared cores) moves both alike.

    pip install -e '.[nam]'            # optional: the NAM peer column
    cmake -S NeuralAmpModelerCore -B build -DCMAKE_BUILD_TYPE=Release
    cmake --build build --target benchmodel_bufsize                   # optional: NAM core
    python benchmarks/effect_realtime.py [--seconds 2] [--threads 1] [--json out.json] \\
        [--nam-core build] [--nam-core build-native] [--repeats 3]

The issue's target is the standard size above 10x real time at block 64 on one core. The
column "GMAC/s" is the compiled engine's multiply-adds per second and "bound x" the real-time
factor the machine's measured single-thread matrix speed (a 256 x 256 product) would allow,
so the distance to the limit is visible. The first call compiles the kernels (timed and
printed; numba caches them on disk).

``--write-docs`` also writes the figures as a table into docs/results/effects.md
(``benchmarks/docs_page.py``: the table with this command, the date, the commit and the CPU).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import docs_page
from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.effect.engine import EffectEngine
from wavedil.effect.nam import save_nam, to_nam

RATE = 48000
BLOCKS = (1, 16, 64, 512)


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


def compiled_rate(engine: EffectEngine, x: np.ndarray, block: int) -> float:
    """Samples/s of the compiled engine over ``x`` in blocks of ``block`` (one call; the
    kernel runs the blocks one after another, as a plugin's callbacks would)."""
    state = engine.init_state(1)
    engine.stream(x[:block], state)  # warm-up
    start = time.perf_counter()
    engine.stream(x, state, block=block)
    return x.shape[0] / (time.perf_counter() - start)


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


def nam_core_build(folder: str) -> tuple[str, Path]:
    """(a name from the build's compiler flags, its benchmodel_bufsize tool) of a NAM core
    build folder; SystemExit naming what is missing."""
    build = Path(folder)
    tool = build / "tools" / "benchmodel_bufsize"
    if not tool.is_file():
        raise SystemExit(f"--nam-core {folder}: no tools/benchmodel_bufsize there (cmake --build "
                         f"{folder} --target benchmodel_bufsize)")
    cache = {}
    if (build / "CMakeCache.txt").is_file():
        for line in (build / "CMakeCache.txt").read_text().splitlines():
            key, _, value = line.partition("=")
            cache[key.split(":")[0]] = value
    kind = cache.get("CMAKE_BUILD_TYPE") or "no build type"
    flags = " ".join(f for f in (cache.get(f"CMAKE_CXX_FLAGS_{kind.upper()}", ""),
                                 cache.get("CMAKE_CXX_FLAGS", "")) if f)
    name = "native" if "-march=native" in flags else "stock"
    return f"{name} ({kind} {flags})".strip(), tool


def nam_core_rate(tool: Path, nam_file: Path, block: int) -> float:
    """Samples/s of NAM core's benchmodel_bufsize: 2 s of audio in blocks of ``block``, after
    one warm-up pass, the mean of 3 timed passes."""
    out = subprocess.run([str(tool), str(nam_file), str(block), "3"], capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    return 2 * RATE / (float(out.split(",")[1]) / 1e6)


def matmul_limit() -> float:
    """Multiply-adds per second of a float32 matrix product on this thread (256 x 256)."""
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    for _ in range(5):
        a @ b
    n, start = 200, time.perf_counter()
    for _ in range(n):
        a @ b
    return n * 256 ** 3 / (time.perf_counter() - start)


def docs_table(rows: list[dict], builds: list[str]) -> list[str]:
    """The figures as a markdown table: one row per size, real-time factors at 48 kHz, and
    NAM core's (each build) at blocks of 16 and 64 with wavedil's ratio to it."""
    def x(v: float) -> str:
        return f"{v:.0f}x" if v >= 100 else f"{v:.1f}x"

    core = [f"NAM core {b.split()[0]}, block 16 / 64 | wavedil / {b.split()[0]}" for b in builds]
    table = ["| size | compiled, block 1 | block 16 | block 64 | block 512 | eager, block 64 | "
             "x NAM's Python (block 64) | GMAC/s (block 64) | compute bound |"
             + "".join(f" {c} |" for c in core),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * len(core)]
    for size in dict.fromkeys(r["size"] for r in rows):
        at = {r["block"]: r for r in rows if r["size"] == size}
        r64 = at[64]
        nam = (f"{r64['samples_per_s'] / r64['nam_samples_per_s']:.0f}"
               if r64["nam_samples_per_s"] else "n/a")
        cells = "".join(
            f" {x(at[16]['nam_core'][b] / RATE)} / {x(at[64]['nam_core'][b] / RATE)} | "
            f"{at[16]['samples_per_s'] / at[16]['nam_core'][b]:.2f} / "
            f"{at[64]['samples_per_s'] / at[64]['nam_core'][b]:.2f} |" for b in builds)
        table.append(f"| {size} | {x(at[1]['real_time'])} | {x(at[16]['real_time'])} | "
                     f"{x(r64['real_time'])} | {x(at[512]['real_time'])} | "
                     f"{r64['eager_real_time']:.2f}x | {nam} | {r64['gmac_per_s']:.1f} | "
                     f"{x(r64['compute_bound_real_time'])} |" + cells)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="audio per measurement")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the eager path")
    ap.add_argument("--repeats", type=int, default=3,
                    help="passes of the compiled engine and of NAM core, taken in turn; the best "
                         "of each is kept")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--nam-core", action="append", default=[], metavar="BUILD",
                    help="a NAM core cmake build folder with tools/benchmodel_bufsize (repeat "
                         "for several builds)")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the table into docs/results/effects.md")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    builds = dict(nam_core_build(b) for b in args.nam_core)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        from nam.models import init_from_nam
    except ImportError:
        init_from_nam = None
    start = time.perf_counter()
    warm = EffectEngine(EffectNet(EffectConfig(preset="nano")))
    warm.forward(np.zeros(64, np.float32), block=64)
    first_call = time.perf_counter() - start
    limit = matmul_limit()
    setting = (f"torch {torch.__version__}, {args.threads} thread(s); compiled engine and NAM "
               f"core the best of {args.repeats} passes taken in turn; matrix product "
               f"{limit / 1e9:.1f} GMAC/s; {warm.status}; first call {first_call:.1f} s (kernel "
               "compile or cache load)")
    print(f"{platform.processor() or platform.machine()}, {setting}")
    rows = []
    header = (f"{'size':9} {'weights':>7} {'block':>5} {'compiled/s':>11} {'x RT':>6} "
              f"{'eager/s':>9} {'x RT':>5} {'NAM/s':>8} {'vs NAM':>6} {'GMAC/s':>6} "
              f"{'bound x':>7} {'max err':>8}" + "".join(f" {'core ' + str(i) + ' x RT':>11}"
                                                        for i in range(len(builds))))
    for i, name in enumerate(builds):
        print(f"core {i}: NAM core built {name}")
    print(header)
    scratch = tempfile.TemporaryDirectory()
    for name in ("standard", "lite", "feather", "nano"):
        model = EffectNet(EffectConfig(preset=name)).eval()
        nam_file = Path(scratch.name) / f"{name}.nam"
        save_nam(model, nam_file)
        engine = EffectEngine(model)
        peer = init_from_nam(json.loads(json.dumps(to_nam(model)))).eval() if init_from_nam else None
        macs = macs_per_sample(model.config)
        bound = limit / macs / RATE
        for block in BLOCKS:
            n = int(args.seconds * RATE)
            x = torch.randn(1, n) * 0.3
            xn = x[0].numpy()
            short = x[:, :n if block > 1 else min(n, 4000)]
            eager = wavedil_rate(model, short, block)
            with torch.no_grad():
                err = float(np.abs(engine.forward(xn[:8000], block=block)
                                   - model(x[:, :8000])[0].numpy()).max())
            peer_n = max(block * 20, min(n, 8000)) if block > 1 else 1000  # NAM: ~100/s at 1
            theirs = nam_rate(peer, x[:, :peer_n], block,
                              model.receptive_field) if peer is not None else None
            # wavedil and each NAM core build in turn, --repeats times, each at its best: a
            # host whose speed drifts (shared cores) moves both alike, and the ratio holds
            ours, core = 0.0, dict.fromkeys(builds, 0.0)
            for _ in range(args.repeats):
                ours = max(ours, compiled_rate(engine, xn, block))
                for b, tool in builds.items():
                    core[b] = max(core[b], nam_core_rate(tool, nam_file, block))
            rows.append({"size": name, "weights": model.config.parameters, "block": block,
                         "samples_per_s": ours, "real_time": ours / RATE,
                         "eager_samples_per_s": eager, "eager_real_time": eager / RATE,
                         "nam_samples_per_s": theirs, "gmac_per_s": ours * macs / 1e9,
                         "compute_bound_real_time": bound, "max_abs_error": err,
                         "nam_core": core})
            print(f"{name:9} {model.config.parameters:>7} {block:>5} {ours:>11,.0f} "
                  f"{ours / RATE:>6.2f} {eager:>9,.0f} {eager / RATE:>5.2f} {theirs or 0:>8,.0f} "
                  f"{(ours / theirs if theirs else float('nan')):>6.1f} {ours * macs / 1e9:>6.2f} "
                  f"{bound:>7.0f} {err:>8.1e}" + "".join(f" {v / RATE:>11.1f}"
                                                          for v in core.values()), flush=True)
    if args.write_docs:
        notes = [setting, "largest difference from the eager path, all rows: "
                 f"{max(r['max_abs_error'] for r in rows):.1e}",
                 "NAM's Python model: " + ("neural-amp-modeler installed" if init_from_nam
                                           else "not installed (pip install -e '.[nam]')"),
                 *(f"NAM core built {b}: its benchmodel_bufsize, one thread, fast tanh (as its "
                   "plugin plays)" for b in builds)]
        docs_page.record("effects.md", "speed", docs_table(rows, list(builds)), notes)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "nam_core_builds": list(builds),
                       "matmul_macs_per_s": limit,
                       "first_call_s": first_call, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
