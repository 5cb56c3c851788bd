"""The model families, one record each: what a recipe or a checkpoint names with ``model.kind``,
and everything the drivers (checkpoint loading, the CLI, training, synthesis, evaluation) need
of a family, so that none of them asks which kind a model is.

    wavenet          WaveNetConfig -> WaveNet: autoregressive, one sample at a time (default)
    harmonic_noise   HarmonicNoiseConfig -> HarmonicNoiseNet: a mel + f0 vocoder that drives
                     harmonic oscillators and shaped noise, not autoregressive
    istft            IstftConfig -> IstftNet: a mel + f0 vocoder that predicts each STFT frame,
                     magnitude and phase, and inverts it
    effect           EffectConfig -> EffectNet: an input-to-output audio effect (Neural Amp
                     Modeler's WaveNet layout); its data section is a PairedDataConfig

A model section without ``kind`` is a WaveNet, so every recipe and checkpoint written before
the key existed reads as before.

The record's hooks into training and synthesis are named ``"module:function"`` and imported
on first use, so that loading a model imports neither training nor the data package
(tests/test_layout.py checks it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .config import Config, ConfigError
from .effect.data_config import PairedDataConfig
from .effect.model import EffectConfig, EffectNet
from .features import DataConfig
from .harmonic_noise.model import HarmonicNoiseConfig, HarmonicNoiseNet
from .istft.model import IstftConfig, IstftNet
from .wavenet.model import WaveNet, WaveNetConfig


@dataclass(frozen=True)
class Family:
    """One model family and the hooks the drivers call for it."""

    kind: str
    """The name ``model.kind`` gives it."""
    config: type[Config]
    """The model section's config class."""
    model: type[nn.Module]
    """The model, built from ``config``."""
    data_config: type[Config]
    """The data section's config class: audio files and their frame features, or pairs."""
    validation_unit: str
    """Its validation figure, as metric records and ``info`` name it: bits (a WaveNet's NLL
    per sample), stft (a vocoder's multi-resolution STFT loss) or esr (an effect's
    error-to-signal ratio)."""
    autoregressive: bool
    """Whether it generates sample by sample from its own past, so that sampling options
    (temperature, engines, weight formats) apply."""
    stream: str | None
    """Its audio from frame features, chunk by chunk (:func:`stream` calls it with the same
    arguments); None where the family processes an input signal instead (``wavedil process``)."""
    objective: str
    """Its training objective's class (``for_recipe(model_config, crop, train_config)``)."""
    prepare: str
    """Its training data, prepared (``prepare(recipe, quiet)``)."""
    check_recipe: str
    """The checks between its recipe's sections (``check(recipe)``, ConfigError naming a key)."""
    sample: str
    """The trainer's listening sample (``sample(trainer, model, clip, n_samples)``)."""
    exports: Mapping[str, str]
    """Export format -> its exporter (``export(model, fmt, out, force, source=, name=,
    sample_rate=, features=)``, which ``wavedil.export.export`` calls)."""
    tune: str | None = None
    """Its compiled engine's planner, measuring now (``tune(loaded, batches, formats,
    blocks)`` -> one dict per choice made, ``wavedil tune``); None where it has none."""
    fix_controls: str | None = None
    """Its models with their control values folded in (``fix_controls(model, values)`` -> a
    model without controls, ``wavedil export --control``); None where it has no controls."""

    def hook(self, name: str) -> Callable[..., Any]:
        """The function (or class) one of the hook fields names, imported now."""
        return self.hook_for(getattr(self, name))

    @staticmethod
    def hook_for(path: str) -> Callable[..., Any]:
        """The function (or class) ``"module:attribute"`` names, imported now."""
        module, _, attribute = path.partition(":")
        return getattr(importlib.import_module(module), attribute)


FAMILIES: dict[str, Family] = {
    "wavenet": Family(
        "wavenet", WaveNetConfig, WaveNet, DataConfig, "bits", True,
        stream="wavedil.wavenet.generate:stream",
        objective="wavedil.train.objective:NLLObjective",
        prepare="wavedil.train.prepare:prepare_wavenet",
        check_recipe="wavedil.train.recipe:check_wavenet",
        sample="wavedil.train.loop:frames_sample",
        exports={"torchscript": "wavedil.wavenet.export:export",
                 "onnx": "wavedil.wavenet.export:export"},
        tune="wavedil.wavenet.engines.planner:tune"),
    "harmonic_noise": Family(
        "harmonic_noise", HarmonicNoiseConfig, HarmonicNoiseNet, DataConfig, "stft", False,
        stream="wavedil.vocode:stream",
        objective="wavedil.train.objective:SpectralObjective",
        prepare="wavedil.train.prepare:prepare_frames",
        check_recipe="wavedil.train.recipe:check_vocoder",
        sample="wavedil.train.loop:frames_sample",
        exports={}),
    "istft": Family(
        "istft", IstftConfig, IstftNet, DataConfig, "stft", False,
        stream="wavedil.vocode:stream",
        objective="wavedil.train.objective:SpectralObjective",
        prepare="wavedil.train.prepare:prepare_frames",
        check_recipe="wavedil.train.recipe:check_vocoder",
        sample="wavedil.train.loop:frames_sample",
        exports={}),
    "effect": Family(
        "effect", EffectConfig, EffectNet, PairedDataConfig, "esr", False,
        stream=None,
        objective="wavedil.train.objective:EffectObjective",
        prepare="wavedil.train.prepare:prepare_effect_pairs",
        check_recipe="wavedil.train.recipe:check_effect",
        sample="wavedil.train.loop:effect_sample",
        exports={"nam": "wavedil.effect.nam:export_nam"},
        tune="wavedil.effect.process:tune",
        fix_controls="wavedil.effect.knobs:fix_controls"),
}
"""kind -> its family."""

KINDS: dict[str, tuple[type, type]] = {kind: (f.config, f.model) for kind, f in FAMILIES.items()}
"""kind -> (config class, model class)."""


def family_named(kind: Any) -> Family:
    """The family ``kind`` names; a ConfigError listing the families for any other value."""
    if not isinstance(kind, str) or kind not in FAMILIES:
        raise ConfigError("model", "kind", f"must be one of {', '.join(FAMILIES)}, got {kind!r}")
    return FAMILIES[kind]


def family_of(config_or_model: Config | nn.Module | Mapping[str, Any]) -> Family:
    """The family of a model config, a model, or a model section (a mapping with ``kind``,
    a WaveNet without one)."""
    if isinstance(config_or_model, Mapping):
        return family_named(config_or_model.get("kind", "wavenet"))
    config = getattr(config_or_model, "config", config_or_model)
    for family in FAMILIES.values():
        if type(config) is family.config:
            return family
    raise TypeError(f"{type(config_or_model).__name__} is not a model of any family "
                    f"({', '.join(FAMILIES)}) nor its config")


def config_class(values: Mapping[str, Any]) -> type:
    """The config class a model section names with ``kind`` (WaveNetConfig without one)."""
    return family_of(values).config


def data_config_class(model: Mapping[str, Any] | Config) -> type:
    """The data section's config class for a model section (or config): PairedDataConfig for
    an effect, DataConfig (audio files and their frame features) otherwise."""
    return family_of(model).data_config


def validation_key(config: Config) -> str:
    """The unit of a model's validation figures (:attr:`Family.validation_unit`)."""
    return family_of(config).validation_unit


def model_config(values: Mapping[str, Any]) -> Config:
    """A model section (a recipe's, a checkpoint's) as the config of its kind."""
    return config_class(values).from_dict(values)


def build_model(config: Config) -> nn.Module:
    """A fresh model of ``config``'s kind."""
    try:
        family = family_of(config)
    except TypeError:
        raise TypeError(f"build_model: {type(config).__name__} is not a model config") from None
    return family.model(config)


def stream(model: nn.Module, n_samples: int | None = None, batch_size: int = 1,
           **kwargs: Any) -> Iterator[torch.Tensor]:
    """Yield a model's output from its frame features, chunk by chunk (B, n_i) in [-1, 1], by
    its family's synthesis: a WaveNet sample by sample through an engine
    (:func:`wavedil.wavenet.generate.stream`, whose arguments every family takes), a vocoder
    in one pass. An effect processes an input signal instead: ValueError."""
    family = family_of(model)
    if family.stream is None:
        raise ValueError(f"a model of kind {family.kind} processes an input signal, it does not "
                         "generate: use wavedil.process (wavedil process CHECKPOINT IN.wav)")
    return family.hook("stream")(model, n_samples, batch_size, **kwargs)


def generate(model: nn.Module, n_samples: int | None = None, batch_size: int = 1,
             progress: Callable[[int], None] | None = None, **kwargs: Any) -> torch.Tensor:
    """Generate (B, n_samples) waveform values in [-1, 1]; see :func:`stream` and
    :func:`wavedil.wavenet.generate.stream` for the arguments.

    ``progress`` is called with the number of samples produced so far after each chunk.
    """
    chunks, done = [], 0
    for chunk in stream(model, n_samples, batch_size, **kwargs):
        chunks.append(chunk)
        done += chunk.shape[-1]
        if progress is not None:
            progress(done)
    if not chunks:
        return torch.zeros(batch_size, 0)
    return torch.cat(chunks, -1)
