"""PairedDataConfig, the ``data:`` section of an effect recipe (model.kind effect): which
input and output signals the effect is learnt from, and how they are aligned and cropped.

A checkpoint carries it (its sample rate, at least), so it lives apart from the pairs'
reading and cropping (``paired.py``), which loading a model never needs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..config import Config, ConfigError
from .reference import KNOB, REFERENCES

EMBEDDED = "embedded"
@dataclass
class PairedDataConfig(Config):
    """The ``data:`` section of an effect recipe (model.kind effect)."""

    input: str = EMBEDDED
    """The dry signal: an audio file or a folder of them; "embedded": the built-in pair (the
    plucked-string corpus through ``embedded_effect``)."""
    target: str = ""
    """The device's output for ``input``: a file, or a folder holding the same relative paths;
    empty for the embedded pair."""
    pairs: list[dict] | None = None
    """Instead of input/target: a list of {input, target, controls, heldout} (controls: the
    knob positions of that recording, one number per model control; heldout: true for a pair
    never trained on, all of it validation: a knob model's unseen setting)."""
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
    embedded_effect: str = "pedal"
    """Embedded pair: the reference device of wavedil.effect.reference that makes the target,
    pedal (a tanh clipper and a tone filter) or amp (two asymmetric triode stages with memory,
    a tone stack and a power stage that sags)."""
    embedded_knob: float = KNOB
    """Embedded pair: the device's knob position in [0, 1] (its gain; the pedal's drive is
    36 ** knob), for a model without controls."""
    embedded_knobs: list[float] | None = None
    """Embedded pairs for a knob model (model.controls 1): the device's knob positions in
    [0, 1], one pair per position, the same input through the device at each, the position its
    control value; null: one pair at ``embedded_knob``, with no control."""
    heldout_knobs: list[float] = field(default_factory=list)
    """Embedded knob positions never trained on: the device at each makes a pair whose
    validation tail (the same held-out input as the others') is validated on, so that the
    validation figure includes settings between those trained."""

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
        need(self.embedded_effect in REFERENCES, "embedded_effect", " or ".join(REFERENCES))

        def knobs(values: Any) -> bool:
            return isinstance(values, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
                for v in values)

        need(knobs([self.embedded_knob]), "embedded_knob", "a knob position in [0, 1]")
        need(self.embedded_knobs is None or (knobs(self.embedded_knobs)
                                             and len(self.embedded_knobs) > 0),
             "embedded_knobs", "null or a non-empty list of knob positions in [0, 1]")
        need(knobs(self.heldout_knobs), "heldout_knobs", "a list of knob positions in [0, 1]")
        need(not self.heldout_knobs or self.embedded_knobs is not None, "heldout_knobs",
             "empty unless embedded_knobs is given (a knob model)")
        need(not self.heldout_knobs or self.validation_fraction > 0, "heldout_knobs",
             "empty when validation_fraction is 0 (a held-out knob is validated on its tail)")
        need(not set(self.heldout_knobs) & set(self.embedded_knobs or []), "heldout_knobs",
             f"positions not in embedded_knobs ({self.embedded_knobs})")
        if self.pairs is not None:
            need(isinstance(self.pairs, list) and len(self.pairs) > 0, "pairs",
                 "a non-empty list of {input, target, controls, heldout}")
            need(not all(p.get("heldout", False) for p in self.pairs if isinstance(p, dict)),
                 "pairs", "at least one pair that is not heldout")
            for i, p in enumerate(self.pairs):
                ok = isinstance(p, dict) and set(p) <= {"input", "target", "controls",
                                                         "heldout"} \
                    and isinstance(p.get("input"), str) and isinstance(p.get("target"), str)
                controls = p.get("controls", []) if isinstance(p, dict) else None
                ok = ok and isinstance(p.get("heldout", False), bool)
                ok = ok and isinstance(controls, list) and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in controls)
                if not ok:
                    raise ConfigError(type(self).__name__, f"pairs[{i}]",
                                      "must be {input: file, target: file, controls: [numbers]"
                                      ", heldout: true or false}"
                                      f", got {p!r}")

    @property
    def embedded(self) -> bool:
        return self.input == EMBEDDED and self.pairs is None
