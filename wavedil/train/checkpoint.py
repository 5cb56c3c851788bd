"""The run's checkpoint folder: step files (step-00000250.pt), the newest readable one, and
pruning to the last N. Writing and reading a checkpoint is ``wavedil.checkpoint``'s."""

from __future__ import annotations

import re
from pathlib import Path

from ..checkpoint import load_checkpoint

STEP_FILE = re.compile(r"^step-(\d{8})\.pt$")


def step_path(folder: str | Path, step: int) -> Path:
    """The step checkpoint of ``step`` in ``folder``."""
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


def training_times(folder: str | Path) -> list[tuple[Path, int, float]]:
    """(path, step, seconds the run had trained) of each step checkpoint in ``folder`` that
    carries its training time (``train.minutes`` counts it), oldest first."""
    out = []
    for path in step_checkpoints(folder):
        ck = load_checkpoint(path)
        if "trained_seconds" in ck:
            out.append((path, int(ck["step"]), float(ck["trained_seconds"])))
    return out


def prune(folder: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints (and stale temporary files)."""
    files = step_checkpoints(folder)
    for path in files[:-keep] if keep > 0 else files:
        path.unlink(missing_ok=True)
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
