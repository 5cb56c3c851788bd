"""wavedil: WaveNet-style audio models on 1D dilated causal convolutions.

The public names load on first use (PEP 562): ``from wavedil import WaveNet`` and
``wavedil.WaveNet`` work as with plain imports, but ``import wavedil`` alone imports no torch,
so that ``wavedil --help`` (whose module lives in this package) starts in a fraction of a
second instead of three.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "dsp.audio": ("LogMel", "load_audio", "mulaw_decode", "mulaw_encode", "save_audio"),
    "nn.blocks": ("ASPP1d", "CCCBlock", "ContextModule", "DegriddingStack", "ESPBlock1d",
               "GatedResidualBlock", "HDCStack", "KroneckerConv1d", "NonCausalWaveNet",
               "PreFilteredDilatedConv1d", "SmoothedDilatedConv1d"),
    "nn.conditioning": ("LocalConditioner",),
    "nn.heads": ("CategoricalHead", "GaussianHead", "LogisticMixtureHead", "bits"),
    "nn.layers": ("CausalConv1d", "ConvState"),
    "wavenet.model": ("WaveNet", "WaveNetConfig"),
    "wavenet.plan": ("WaveNetState",),
    "wavenet.generate": ("GenerateConfig",),
    "families": ("generate", "stream"),
    "checkpoint": ("LoadedModel", "load_checkpoint", "load_model", "save_checkpoint"),
    "effect.model": ("EffectConfig", "EffectNet", "EffectState"),
    "effect.nam": ("load_nam", "save_nam"),
    "effect.process": ("process",),
    "dsp.refine": ("mel_refine",),
    "nn.receptive": ("GriddingReport", "effective_kernel", "gridding", "hdc_condition",
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


if TYPE_CHECKING:
    from .dsp.audio import LogMel, load_audio, mulaw_decode, mulaw_encode, save_audio
    from .nn.blocks import (ASPP1d, CCCBlock, ContextModule, DegriddingStack, ESPBlock1d,
                         GatedResidualBlock, HDCStack, KroneckerConv1d, NonCausalWaveNet,
                         PreFilteredDilatedConv1d, SmoothedDilatedConv1d)
    from .checkpoint import LoadedModel, load_checkpoint, load_model, save_checkpoint
    from .nn.conditioning import LocalConditioner
    from .effect.model import EffectConfig, EffectNet, EffectState
    from .families import generate, stream
    from .wavenet.generate import GenerateConfig
    from .nn.heads import CategoricalHead, GaussianHead, LogisticMixtureHead, bits
    from .nn.layers import CausalConv1d, ConvState
    from .wavenet.model import WaveNet, WaveNetConfig
    from .wavenet.plan import WaveNetState
    from .effect.nam import load_nam, save_nam
    from .effect.process import process
    from .dsp.refine import mel_refine
    from .nn.receptive import (GriddingReport, effective_kernel, gridding, hdc_condition,
                            layer_receptive_fields, layered_dilations, path_counts,
                            receptive_field, repeating_group, sawtooth_dilations,
                            wavenet_dilations)
