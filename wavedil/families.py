"""The model families a recipe or a checkpoint can name with ``model.kind``, and how each is
built from its config.

    wavenet          WaveNetConfig -> WaveNet: autoregressive, one sample at a time (default)
    harmonic_noise   HarmonicNoiseConfig -> HarmonicNoiseNet: a mel + f0 vocoder that drives
                     harmonic oscillators and shaped noise, not autoregressive
    effect           EffectConfig -> EffectNet: an input-to-output audio effect (Neural Amp
                     Modeler's WaveNet layout); its data section is a PairedDataConfig

A model section without ``kind`` is a WaveNet, so every recipe and checkpoint written before
the key existed reads as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from .config import Config, ConfigError
from .features import DataConfig
from .effect.data_config import PairedDataConfig
from .effect.model import EffectConfig, EffectNet
from .harmonic_noise.model import HarmonicNoiseConfig, HarmonicNoiseNet
from .wavenet.model import WaveNet, WaveNetConfig

KINDS: dict[str, tuple[type, type]] = {
    "wavenet": (WaveNetConfig, WaveNet),
    "harmonic_noise": (HarmonicNoiseConfig, HarmonicNoiseNet),
    "effect": (EffectConfig, EffectNet),
}
"""kind -> (config class, model class)."""


def config_class(values: Mapping[str, Any]) -> type:
    """The config class a model section names with ``kind`` (WaveNetConfig without one)."""
    kind = values.get("kind", "wavenet")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ConfigError("model", "kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    return KINDS[kind][0]


def data_config_class(model: Mapping[str, Any] | Config) -> type:
    """The data section's config class for a model section (or config): PairedDataConfig for
    an effect, DataConfig (audio files and their frame features) otherwise."""
    kind = model.get("kind", "wavenet") if isinstance(model, Mapping) else model.kind
    return PairedDataConfig if kind == "effect" else DataConfig


def is_effect(config: Config) -> bool:
    """Whether the model maps an input signal to an output signal (model.kind effect)."""
    return isinstance(config, EffectConfig)


def validation_key(config: Config) -> str:
    """The unit of a model's validation figures, as metric records and ``info`` name them:
    bits (a WaveNet's NLL per sample), esr (an effect's error-to-signal ratio) or stft (a
    vocoder's multi-resolution STFT loss)."""
    return "bits" if is_autoregressive(config) else "esr" if is_effect(config) else "stft"


def model_config(values: Mapping[str, Any]) -> Config:
    """A model section (a recipe's, a checkpoint's) as the config of its kind."""
    return config_class(values).from_dict(values)


def build_model(config: Config) -> nn.Module:
    """A fresh model of ``config``'s kind."""
    for config_cls, model_cls in KINDS.values():
        if isinstance(config, config_cls):
            return model_cls(config)
    raise TypeError(f"build_model: {type(config).__name__} is not a model config")


def is_autoregressive(config: Config) -> bool:
    """Whether the model generates sample by sample from its own past (a WaveNet)."""
    return isinstance(config, WaveNetConfig)
