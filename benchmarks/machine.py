"""The machine's limits, measured in the benchmark's own process, so that every speed figure
can be printed beside the distance to them:

- ``fma_peak(threads)``: float32 multiply-add throughput of a loop of independent fused
  multiply-adds (numba, vectorised by LLVM for this CPU), in FLOP/s (2 per multiply-add),
  on ``threads`` threads at once;
- ``dot_peak(threads)``: the same for the bfloat16 dot product (AVX512-BF16's VDPBF16PS,
  ``dot_probe.c``, two multiply-adds per float32 lane), the ceiling of ``weights="bf16-dot"``;
  0 on a CPU without it or without a C compiler;
- ``memory_bandwidth()``: bytes/s of reading a 256 MB array (one thread, numpy's sum), the
  ceiling of anything that streams weights from DRAM.

    python benchmarks/machine.py
"""

from __future__ import annotations

import threading
import time

import numba
import numpy as np

LANES = 64
"""Independent accumulators per thread: 8 AVX2 registers of 8 floats, enough to hide the
4-cycle multiply-add latency on two FMA pipes and leave registers for the constants (128
spills, 32 is latency-bound: both measured far below the peak)."""


@numba.njit(fastmath=True, cache=True, nogil=True)
def _fma_loop(n: int, acc: np.ndarray) -> None:
    a = np.float32(0.999999)
    b = np.float32(1e-7)
    local = acc.copy()
    for _ in range(n):
        for j in range(LANES):
            local[j] = local[j] * a + b
    acc[:] = local


def _flops(run, flops_per_n: float, threads: int, seconds: float, repeats: int) -> float:
    """FLOP/s of ``run(n)`` (which makes ``flops_per_n`` FLOP per n and lets go of the GIL)
    on ``threads`` threads together: n sized to about ``seconds``, best of ``repeats`` (a
    virtual machine's core is sometimes taken for a while)."""
    n = 1000
    while True:  # size the loop to ``seconds``
        start = time.perf_counter()
        run(n)
        took = time.perf_counter() - start
        if took > 0.05:
            break
        n *= 4
    n = max(1, int(n * seconds / took))
    best = float("inf")
    for _ in range(repeats):
        workers = [threading.Thread(target=run, args=(n,)) for _ in range(threads)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - start)
    return flops_per_n * n * threads / best


def fma_peak(threads: int = 1, seconds: float = 0.2, repeats: int = 3) -> float:
    """Float32 FLOP/s of independent multiply-adds on ``threads`` threads together (best of
    ``repeats``)."""
    _fma_loop(10, np.ones(LANES, np.float32))  # compile
    return _flops(lambda n: _fma_loop(n, np.ones(LANES, np.float32)), 2.0 * LANES, threads,
                  seconds, repeats)


def dot_peak(threads: int = 1, seconds: float = 0.2, repeats: int = 3) -> float:
    """FLOP/s (2 per multiply-add) of bfloat16 dot products on ``threads`` threads together
    (best of ``repeats``); 0 where the CPU or the compiler has none."""
    import ctypes
    from pathlib import Path

    from wavedil.native import build as cbuild

    cc = cbuild.find_compiler()
    if cc is None:
        return 0.0
    try:
        probe = ctypes.CDLL(str(cbuild.build(cc, Path(__file__).with_name("dot_probe.c"))))
    except Exception:  # noqa: BLE001  no probe, no figure
        return 0.0
    probe.wd_dot_probe.restype = ctypes.c_int64
    probe.wd_dot_probe.argtypes = [ctypes.c_int64]
    if probe.wd_dot_probe(1) == 0:
        return 0.0
    # ctypes lets go of the GIL for the call; a round is ten 32-multiply-add instructions
    return _flops(probe.wd_dot_probe, 2.0 * 320, threads, seconds, repeats)


def memory_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Bytes/s of streaming a ``megabytes`` array through one core (best of ``repeats``)."""
    x = np.ones(megabytes * 2 ** 20 // 4, np.float32)
    x.sum()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - start)
    return x.nbytes / best


def multiply_adds(model) -> int:
    """Multiply-adds per output sample of a WaveNet's forward (every weight matrix once; the
    input embedding is a lookup, biases are adds): also the weights read per generation step."""
    return sum(p.numel() for name, p in model.named_parameters()
               if p.dim() >= 2 and "embed" not in name)


def describe(threads: int) -> str:
    """One line of the limits: FMA peak on one and on ``threads`` threads, the bfloat16 dot
    product's, and bandwidth."""
    one = fma_peak(1)
    many = fma_peak(threads) if threads > 1 else one
    dot = dot_peak(1)
    dots = (f"bfloat16 dot product peak {dot / 1e9:.1f} GFLOP/s on 1 thread, "
            f"{(dot_peak(threads) if threads > 1 else dot) / 1e9:.1f} on {threads}" if dot
            else "no bfloat16 dot product (AVX512-BF16)")
    return (f"machine: FMA peak {one / 1e9:.1f} GFLOP/s on 1 thread, {many / 1e9:.1f} on "
            f"{threads}; {dots}; {'AMX bfloat16 tiles' if _has_flag('amx_bf16') else 'no AMX'}; "
            f"memory read {memory_bandwidth() / 1e9:.1f} GB/s (1 thread)")


def _has_flag(flag: str) -> bool:
    """Whether /proc/cpuinfo lists the CPU feature ``flag`` (False where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and flag in line.split() for line in f)
    except OSError:
        return False


if __name__ == "__main__":
    import os

    print(describe(os.cpu_count() or 1))
