"""wavedil: WaveNet-style audio models on 1D dilated causal convolutions.

The public names load on first use (PEP 562): ``from wavedil import WaveNet`` and
``wavedil.WaveNet`` work as with plain imports, but ``import wavedil`` alone imports no torch,
so that ``wavedil --help`` (whose module lives in this package) starts in a fraction of a
second instead of three.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "audio": ("LogMel", "load_audio", "mulaw_decode", "mulaw_encode", "save_audio"),
    "blocks": ("ASPP1d", "CCCBlock", "ContextModule", "DegriddingStack", "ESPBlock1d",
               "GatedResidualBlock", "HDCStack", "KroneckerConv1d", "NonCausalWaveNet",
               "PreFilteredDilatedConv1d", "SmoothedDilatedConv1d"),
    "conditioning": ("LocalConditioner",),
    "heads": ("CategoricalHead", "GaussianHead", "LogisticMixtureHead", "bits"),
    "layers": ("CausalConv1d", "ConvState"),
    "model": ("WaveNet", "WaveNetConfig", "WaveNetState"),
    "generate": ("GenerateConfig", "generate", "stream"),
    "checkpoint": ("LoadedModel", "load_checkpoint", "load_model", "save_checkpoint"),
    "effect": ("EffectConfig", "EffectNet", "EffectState"),
    "nam": ("load_nam", "save_nam"),
    "process": ("process",),
    "refine": ("mel_refine",),
    "receptive": ("GriddingReport", "effective_kernel", "gridding", "hdc_condition",
                  "layer_receptive_fields", "layered_dilations", "path_counts",
                  "receptive_field", "repeating_group", "sawtooth_dilations",
                  "wavenet_dilations"),
}
"""Submodule -> the public names it gives the package (the imports under TYPE_CHECKING below
say the same for type checkers; tests/test_cli.py checks that they agree)."""

_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """A public name, imported from its submodule on first use; or a submodule
    (``wavedil.data``), as the eager imports of earlier versions made available."""
    if name in _HOME:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package's module. Importing a submodule binds it as an attribute of the package;
    where a public function has the submodule's name (``generate``, ``process``) the function
    stays bound instead, as ``from .generate import generate`` left it when imports were eager."""

    def __setattr__(self, name: str, value: Any) -> None:
        if (isinstance(value, types.ModuleType) and name in _HOME
                and value.__name__ == f"{__name__}.{name}"):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:
    from .audio import LogMel, load_audio, mulaw_decode, mulaw_encode, save_audio
    from .blocks import (ASPP1d, CCCBlock, ContextModule, DegriddingStack, ESPBlock1d,
                         GatedResidualBlock, HDCStack, KroneckerConv1d, NonCausalWaveNet,
                         PreFilteredDilatedConv1d, SmoothedDilatedConv1d)
    from .checkpoint import LoadedModel, load_checkpoint, load_model, save_checkpoint
    from .conditioning import LocalConditioner
    from .effect import EffectConfig, EffectNet, EffectState
    from .generate import GenerateConfig, generate, stream
    from .heads import CategoricalHead, GaussianHead, LogisticMixtureHead, bits
    from .layers import CausalConv1d, ConvState
    from .model import WaveNet, WaveNetConfig, WaveNetState
    from .nam import load_nam, save_nam
    from .process import process
    from .refine import mel_refine
    from .receptive import (GriddingReport, effective_kernel, gridding, hdc_condition,
                            layer_receptive_fields, layered_dilations, path_counts,
                            receptive_field, repeating_group, sawtooth_dilations,
                            wavenet_dilations)
