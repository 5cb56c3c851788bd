"""A recipe's data, prepared as its model reads it: the trainer's first step, and on its own
``wavedil prepare``, which reports what was used and what was skipped.

    wavedil prepare recipes/quickstart.yaml [--set data.path=my_wavs/]

The expensive part is cached by :func:`wavedil.data.prepare` (clips, features, pYIN's f0), so
a run started after ``wavedil prepare`` finds its data ready. Effect pairs are not cached: they
are read and aligned on every start, and a bad pair is an error rather than a skipped file.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from ..data import PreparedData, prepare
from ..effect.paired import PairedData, prepare_pairs
from ..families import family_of
from .recipe import Recipe


def prepare_data(recipe: Recipe, quiet: bool = False) -> PreparedData | PairedData:
    """The recipe's data for its model, by its family's ``prepare`` (``Family.prepare``):
    aligned pairs for an effect; clips with their frame features for a vocoder, and with
    mu-law classes and the receptive field for a WaveNet. ``quiet``: the skipped files are
    left to the caller (see :func:`wavedil.data.prepare`)."""
    return family_of(recipe.model).hook("prepare")(recipe, quiet)


def prepare_wavenet(recipe: Recipe, quiet: bool = False) -> PreparedData:
    """Clips with their frame features, their mu-law classes, and crops holding the history
    the WaveNet reads (its ``context_length``)."""
    mc = recipe.model
    return prepare(recipe.data, mc.hop_length, mc.classes, mc.context_length, quiet=quiet)


def prepare_frames(recipe: Recipe, quiet: bool = False) -> PreparedData:
    """Clips with their frame features, for a frames-to-waveform vocoder."""
    return prepare(recipe.data, recipe.model.hop_length, quiet=quiet)


def prepare_effect_pairs(recipe: Recipe, quiet: bool = False) -> PairedData:
    """An effect's pairs, aligned and split (not cached; a bad pair is an error, so there is
    nothing to be quiet about)."""
    mc = recipe.model
    return prepare_pairs(recipe.data, mc.receptive_field, mc.controls)


@dataclass
class DataReport:
    """What ``wavedil prepare`` found."""

    files: int
    """Files used (pairs of input and target files, for an effect: see ``paired``)."""
    seconds: float
    """Audio used, in seconds (the inputs of pairs)."""
    sample_rate: int
    train: int
    """Clips (segments of pairs) in the training set."""
    validation: int
    """Clips (segments of pairs) held out for validation."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason) of every file left out."""
    resampled: dict[int, list[str]] | None = field(default_factory=dict)
    """A file rate -> the used files read at it and resampled to ``sample_rate``; None where
    the cache predates this record."""
    latencies: dict[str, int] = field(default_factory=dict)
    """Effect pairs: input file -> the target's lag removed, in samples."""
    cache: str | None = None
    """The cache file of the prepared clips (None for pairs, which are not cached)."""
    from_cache: bool = False
    """Whether the clips were read from the cache rather than prepared now."""
    paired: bool = False
    """Whether the data is an effect's pairs (then ``files`` counts pairs, and nothing is
    skipped: a bad pair is an error)."""

    def to_dict(self) -> dict:
        return asdict(self)


def prepare_recipe(recipe: Recipe) -> DataReport:
    """Prepare (and cache) a recipe's data without training, and report it: the library
    function behind ``wavedil prepare``."""
    data = prepare_data(recipe, quiet=True)
    seconds = float((data.bounds[:, 1] - data.bounds[:, 0]).sum()) / data.sample_rate
    common = dict(files=len(set(data.paths)), seconds=seconds, sample_rate=data.sample_rate,
                  train=len(data.train), validation=len(data.validation))
    if isinstance(data, PairedData):
        return DataReport(**common, latencies=dict(data.latencies), resampled={}, paired=True)
    resampled: dict[int, list[str]] | None = None
    if data.resampled is not None:
        resampled = defaultdict(list)
        for path, rate in data.resampled:
            resampled[rate].append(path)
        resampled = dict(sorted(resampled.items()))
    return DataReport(**common, skipped=list(data.skipped), resampled=resampled,
                      cache=str(data.cache_path) if data.cache_path else None,
                      from_cache=data.from_cache)


__all__ = ["DataReport", "prepare_data", "prepare_recipe"]
