"""The model families a recipe or a checkpoint can name with ``model.kind``, and how each is
built from its config.

    wavenet          WaveNetConfig -> WaveNet: autoregressive, one sample at a time (default)
    harmonic_noise   HarmonicNoiseConfig -> HarmonicNoiseNet: a mel + f0 vocoder that drives
                     harmonic oscillators and shaped noise, not autoregressive

A model section without ``kind`` is a WaveNet, so every recipe and checkpoint written before
the key existed reads as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from .config import Config, ConfigError
from .hnnet import HarmonicNoiseConfig, HarmonicNoiseNet
from .model import WaveNet, WaveNetConfig

KINDS: dict[str, tuple[type, type]] = {
    "wavenet": (WaveNetConfig, WaveNet),
    "harmonic_noise": (HarmonicNoiseConfig, HarmonicNoiseNet),
}
"""kind -> (config class, model class)."""


def config_class(values: Mapping[str, Any]) -> type:
    """The config class a model section names with ``kind`` (WaveNetConfig without one)."""
    kind = values.get("kind", "wavenet")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ConfigError("model", "kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    return KINDS[kind][0]


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
