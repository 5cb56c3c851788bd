"""Work on a batch's streams in pieces of time, on worker threads: the scaffolding of the CPU
training passes that keep a layer's activations in the caches (``chunked_stack.py`` for a
WaveNet's gated residual blocks, ``effect_stack.py`` for an effect's layer arrays).

A pass cuts each stream's sequence into pieces (:func:`piece_length`, :func:`pieces`), reads a
dilated tap's lagged rows of a piece with :func:`lagged` (rows before the sequence read
silence), keeps its work buffers per thread (:func:`scratch`), and runs the streams of a batch
side by side, one worker thread per torch thread, each worker's torch operations on one thread
(:func:`over_streams`), instead of splitting every small product between the cores.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import torch


def piece_length(T: int, width: int, piece_bytes: int) -> int:
    """Time steps per piece: the sequence cut in equal pieces of at most ``piece_bytes`` of
    float32 rows of ``width`` values (2048 steps -> one piece of 2048 for 128 gate channels
    and 1 MB, two of 1024 for 256)."""
    most = max(1, piece_bytes // (4 * width))
    count = -(-T // most)
    return -(-T // count)


def lagged(t0: int, t1: int, lag: int) -> tuple[int, slice] | None:
    """For the piece [t0, t1) and a tap ``lag`` steps back: (first row of the piece that the
    tap reaches, the source rows it reads), or None where the whole piece reads silence."""
    lo = max(t0, lag)
    return (lo - t0, slice(lo - lag, t1 - lag)) if lo < t1 else None


def pieces(T: int, size: int) -> Iterator[tuple[int, int]]:
    """[t0, t1) of each piece of ``size`` steps (the last may be shorter)."""
    for t0 in range(0, T, size):
        yield t0, min(T, t0 + size)


_buffers = threading.local()


def scratch(name: str, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """A (rows, cols) work buffer of this thread, kept from piece to piece and pass to pass: a
    fresh tensor of this size is new pages from the system, whose first touch costs about as
    much as the small product that fills it (a one-off profile of the quickstart's products:
    337 us a product into fresh tensors, 193 into kept ones)."""
    kept = _buffers.__dict__.setdefault("kept", {})  # (name, dtype) -> flat buffer
    buf = kept.get((name, like.dtype))
    if buf is None or buf.numel() < rows * cols:
        buf = kept[name, like.dtype] = torch.empty(rows * cols, dtype=like.dtype)
    return buf[:rows * cols].view(rows, cols)


def workers_for(B: int, workers: int | None) -> int:
    """Workers for B streams: one per intra-op thread (``workers`` if set), at most one a
    stream."""
    return max(1, min(B, workers or torch.get_num_threads()))


_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (process id, workers, pool)
_reset = False  # whether a worker has changed the process's default thread count


def over_streams(workers: int, B: int, fn: Callable[[int, int], None]) -> None:
    """fn(worker, n) for every stream n < B; worker w takes streams w, w + workers, ... With
    more than one worker each runs on its own thread of a pool kept for the process, its torch
    operations on one thread each, so that the workers' streams run side by side on the cores
    without splitting every small matrix product between them."""
    global _pool, _reset
    if workers == 1:
        for n in range(B):
            fn(0, n)
        return
    if _pool is None or _pool[:2] != (os.getpid(), workers):  # a forked child has no threads
        if _pool is not None and _pool[0] == os.getpid():
            _pool[2].shutdown(wait=False)  # its threads end once idle
        _pool = (os.getpid(), workers, ThreadPoolExecutor(workers, "wavedil-stack"))
    threads = torch.get_num_threads()
    tasks = [_pool[2].submit(_one_thread, fn, w, range(w, B, workers)) for w in range(workers)]
    errors = [task.exception() for task in tasks]  # waits for every worker
    if _reset:  # torch.set_num_threads(1) in a worker also set the process's default
        _reset = False
        torch.set_num_threads(threads)  # the process's setting again, for threads made later
    for error in errors:
        if error is not None:
            raise error


def _one_thread(fn: Callable[[int, int], None], worker: int, streams) -> None:
    """fn(worker, n) over streams with this thread's torch operations on one thread."""
    global _reset
    if torch.get_num_threads() != 1:  # (its first call sets this thread's from the process's)
        torch.set_num_threads(1)
        _reset = True
    with torch.no_grad():  # as in the autograd function's own thread (grad mode is per thread)
        for n in streams:
            fn(worker, n)


__all__ = ["lagged", "over_streams", "piece_length", "pieces", "scratch", "workers_for"]
