"""Checkpoints: written atomically, read without running code, pruned to the last N.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts:

    recipe      the recipe's sections as dicts (rebuilds data, model, train, generate)
    model, ema  state dicts
    optimizer, scheduler, step, best_val, rng

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over
the target, so a crash (even SIGKILL) at any moment leaves the previous file intact. Reads
use ``torch.load(weights_only=True)``: a file that carries a pickled object is refused and
its code never runs.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

STEP_FILE = re.compile(r"^step-(\d{8})\.pt$")


def save_atomic(obj: Any, path: str | Path) -> None:
    """torch.save to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely; ValueError (one line) when it is missing, unreadable, or
    carries anything but plain data."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        found = re.search(r"unsupported (GLOBAL [\w.]+|class [\w.]+)", text)
        if found or "GLOBAL" in text:
            what = found.group(1) if found else "a global"
            raise ValueError(f"{path}: refused: the file asks to load code or objects other "
                             f"than plain data ({what}); nothing from it was run") from None
        raise ValueError(f"{path}: not a readable checkpoint (corrupt or not a torch file)") from None
    except Exception as e:  # truncated, not a zip/pickle, wrong format
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "recipe" not in ckpt:
        raise ValueError(f"{path}: not a wavedil checkpoint (no 'model' and 'recipe' entries)")
    return ckpt


def step_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step-{step:08d}.pt"


def step_checkpoints(folder: str | Path) -> list[Path]:
    """Step checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if STEP_FILE.match(p.name))


def latest_readable(folder: str | Path) -> tuple[Path, dict] | None:
    """The newest step checkpoint that loads, skipping damaged ones; None if there is none."""
    for path in reversed(step_checkpoints(folder)):
        try:
            return path, load_checkpoint(path)
        except ValueError:
            continue
    return None


def prune(folder: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints (and stale temporary files)."""
    files = step_checkpoints(folder)
    for path in files[:-keep] if keep > 0 else files:
        path.unlink(missing_ok=True)
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
