"""wavedil: WaveNet-style audio models on 1D dilated causal convolutions."""

from .audio import LogMel, load_audio, mulaw_decode, mulaw_encode, save_audio
from .blocks import (ASPP1d, CCCBlock, ContextModule, DegriddingStack, ESPBlock1d,
                     GatedResidualBlock, HDCStack, KroneckerConv1d, NonCausalWaveNet,
                     PreFilteredDilatedConv1d, SmoothedDilatedConv1d)
from .conditioning import LocalConditioner
from .heads import CategoricalHead, GaussianHead, LogisticMixtureHead, bits
from .layers import CausalConv1d, ConvState
from .model import WaveNet, WaveNetConfig, WaveNetState
from .generate import GenerateConfig, generate, stream
from .checkpoint import LoadedModel, load_checkpoint, load_model, save_checkpoint
from .effect import EffectConfig, EffectNet, EffectState
from .nam import load_nam, save_nam
from .process import process
from .receptive import (
    GriddingReport,
    effective_kernel,
    gridding,
    hdc_condition,
    layer_receptive_fields,
    layered_dilations,
    path_counts,
    receptive_field,
    repeating_group,
    sawtooth_dilations,
    wavenet_dilations,
)

__version__ = "0.1.0"

__all__ = [
    "ASPP1d", "CCCBlock", "ContextModule", "DegriddingStack", "ESPBlock1d", "HDCStack",
    "KroneckerConv1d", "NonCausalWaveNet", "PreFilteredDilatedConv1d", "SmoothedDilatedConv1d",
    "generate", "stream", "repeating_group", "GenerateConfig", "LoadedModel", "load_checkpoint",
    "load_model", "save_checkpoint", "EffectConfig", "EffectNet", "EffectState", "load_nam",
    "save_nam", "process",
    "CategoricalHead", "CausalConv1d", "ConvState", "GatedResidualBlock", "GaussianHead",
    "GriddingReport", "LocalConditioner", "LogMel", "LogisticMixtureHead", "WaveNet",
    "WaveNetConfig", "WaveNetState", "bits", "effective_kernel", "gridding", "hdc_condition",
    "layer_receptive_fields", "layered_dilations", "load_audio", "mulaw_decode", "mulaw_encode",
    "path_counts", "receptive_field", "save_audio", "sawtooth_dilations", "wavenet_dilations",
]
