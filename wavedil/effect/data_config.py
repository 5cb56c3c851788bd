"""PairedDataConfig, the ``data:`` section of an effect recipe (model.kind effect): which
input and output signals the effect is learnt from, and how they are aligned and cropped.

A checkpoint carries it (its sample rate, at least), so it lives apart from the pairs'
reading and cropping (``paired.py``), which loading a model never needs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import Config, ConfigError

EMBEDDED = "embedded"
@dataclass
class PairedDataConfig(Config):
    """The ``data:`` section of an effect recipe (model.kind effect)."""

    input: str = EMBEDDED
    """The dry signal: an audio file or a folder of them; "embedded": the built-in pair (the
    plucked-string corpus through the reference pedal of wavedil.effect.reference)."""
    target: str = ""
    """The device's output for ``input``: a file, or a folder holding the same relative paths;
    empty for the embedded pair."""
    pairs: list[dict] | None = None
    """Instead of input/target: a list of {input, target, controls} (controls: the knob
    positions of that recording, one number per model control)."""
    sample_rate: int = 48000
    """Rate of every file (they are not resampled: an effect is learnt at its own rate)."""
    crop: int = 8192
    """Output samples per training crop that carry loss; each crop also holds the receptive
    field before them."""
    latency: int | None = None
    """Samples the target lags the input, removed exactly before training; null: measured
    per pair (and removed less LATENCY_MARGIN samples). The embedded pair has none."""
    max_latency: int = 2000
    """Largest lag (either way, in samples) the measurement looks for and accepts."""
    validation_fraction: float = 0.1
    """Fraction at the end of each pair held out for validation; 0: none."""
    seed: int = 0
    """Seed of the random crops."""
    cache_dir: str = ".cache/wavedil"
    """Folder of the generated embedded corpus."""
    embedded_takes: int = 1
    """Embedded pair: takes per note and timbre of the plucked-string corpus (1: 96 notes)."""

    def __post_init__(self) -> None:
        need = self.need
        need(isinstance(self.input, str) and self.input.strip() != "", "input",
             'an audio file, a folder, or "embedded"')
        need(isinstance(self.target, str), "target", "a file or a folder")
        need(self.input == EMBEDDED or self.pairs is not None or self.target.strip() != "",
             "target", "the output file or folder that goes with input")
        need(isinstance(self.sample_rate, int) and 1000 <= self.sample_rate <= 384000,
             "sample_rate", "an integer in [1000, 384000]")
        need(isinstance(self.crop, int) and self.crop >= 1, "crop", "an integer >= 1")
        need(isinstance(self.max_latency, int) and self.max_latency >= 0, "max_latency",
             "an integer >= 0")
        need(self.latency is None or (isinstance(self.latency, int)
                                      and abs(self.latency) <= self.max_latency), "latency",
             f"null or an integer within +-max_latency ({self.max_latency})")
        need(isinstance(self.validation_fraction, (int, float))
             and 0 <= self.validation_fraction < 0.5, "validation_fraction", "in [0, 0.5)")
        need(isinstance(self.seed, int) and self.seed >= 0, "seed", "an integer >= 0")
        need(isinstance(self.cache_dir, str) and self.cache_dir.strip() != "", "cache_dir",
             "a folder path")
        need(isinstance(self.embedded_takes, int) and 1 <= self.embedded_takes <= 16,
             "embedded_takes", "an integer in [1, 16]")
        if self.pairs is not None:
            need(isinstance(self.pairs, list) and len(self.pairs) > 0, "pairs",
                 "a non-empty list of {input, target, controls}")
            for i, p in enumerate(self.pairs):
                ok = isinstance(p, dict) and set(p) <= {"input", "target", "controls"} \
                    and isinstance(p.get("input"), str) and isinstance(p.get("target"), str)
                controls = p.get("controls", []) if isinstance(p, dict) else None
                ok = ok and isinstance(controls, list) and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in controls)
                if not ok:
                    raise ConfigError(type(self).__name__, f"pairs[{i}]",
                                      "must be {input: file, target: file, controls: [numbers]}"
                                      f", got {p!r}")

    @property
    def embedded(self) -> bool:
        return self.input == EMBEDDED and self.pairs is None
