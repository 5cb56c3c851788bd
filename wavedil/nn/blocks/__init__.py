"""Dilated-convolution blocks, one per file: the WaveNet gated block and the blocks from the
dilated-convolution literature, each causal (with streaming) or non-causal."""

from .aspp import ASPP1d, ASPPState
from .ccc import CCCBlock
from .context import ContextModule
from .degridding import DegriddingStack
from .esp import ESPBlock1d
from .hdc import HDCStack
from .kronecker import KroneckerConv1d
from .noncausal_wavenet import NonCausalWaveNet
from .prefiltered import PreFilteredDilatedConv1d
from .residual import GatedResidualBlock
from .smoothed import SharedSmoothing, SmoothedDilatedConv1d
from .streaming import BlockState, StreamingBlock

__all__ = [
    "ASPP1d", "ASPPState", "BlockState", "CCCBlock", "ContextModule", "DegriddingStack",
    "ESPBlock1d", "GatedResidualBlock", "HDCStack", "KroneckerConv1d", "NonCausalWaveNet",
    "PreFilteredDilatedConv1d", "SharedSmoothing", "SmoothedDilatedConv1d", "StreamingBlock",
]
