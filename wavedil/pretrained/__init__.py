"""Pretrained models shipped inside the package: hear something without training.

    wavedil models                                   one line each
    wavedil generate pretrained:quickstart --from-wav note.wav -o out.wav
    wavedil.load_model("pretrained:speech")

Each model is a weights-only checkpoint in this folder (moving-average weights, no optimiser
state), listed in ``models.json`` with the recipe and command that trained it, the training
time, and its validation figure as training measured it. ``tests/test_pretrained.py``
recomputes the figures it can (the embedded-data models) and generates from every model.
The files are made by ``benchmarks/pretrained.py`` from a finished run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).parent
PREFIX = "pretrained:"
"""Checkpoint paths that start with this name a shipped model."""


@dataclass(frozen=True)
class Pretrained:
    """One shipped model, as ``models.json`` records it."""

    name: str
    file: str
    """The checkpoint's file name in this folder."""
    kind: str
    description: str
    recipe: str
    """The recipe in the repository's recipes/ that trained it."""
    command: str
    """The exact command that trained it."""
    data: str
    """What it was trained on."""
    steps: int
    train_minutes: float
    """Wall-clock minutes of training (from its metrics log), and on what hardware."""
    hardware: str
    validation: str
    """The validation unit: bits (NLL per sample), stft (spectral loss) or esr."""
    untrained_val: float
    best_val: float
    """The validation figure of the shipped weights as training measured it."""
    dtype: str = "float32"
    """How the weights are stored (float16 halves the file; they load as float32)."""

    @property
    def path(self) -> Path:
        return FOLDER / self.file

    def line(self) -> str:
        """One line for ``wavedil models``."""
        return (f"{PREFIX}{self.name:12} {self.kind:15} {self.description} ({self.steps} steps, "
                f"{self.train_minutes:.0f} min; validation {self.validation} "
                f"{self.untrained_val:.3f} -> {self.best_val:.3f})")


def models() -> list[Pretrained]:
    """Every shipped model, in ``models.json``'s order."""
    entries = json.loads((FOLDER / "models.json").read_text())
    return [Pretrained(**e) for e in entries]


def find(name: str) -> Pretrained:
    """The shipped model called ``name``; ValueError naming the ones there are."""
    for m in models():
        if m.name == name:
            return m
    raise ValueError(f"{PREFIX}{name}: no such pretrained model; there are "
                     + ", ".join(PREFIX + m.name for m in models()) + " (wavedil models)")


def resolve(path: str | Path) -> Path:
    """``pretrained:NAME`` -> the shipped checkpoint's path; any other path as it is."""
    text = str(path)
    if text.startswith(PREFIX):
        return find(text[len(PREFIX):]).path
    return Path(path)


__all__ = ["PREFIX", "Pretrained", "find", "models", "resolve"]
