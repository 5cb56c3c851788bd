"""Concentrated-comprehensive convolution (Park, Yoo, Seo, Han, Yun and Kwak 2018,
"Concentrated-Comprehensive Convolutions for lightweight semantic segmentation",
arXiv:1812.04920; the C3 block), in 1D.

A depthwise separable dilated conv is cheap but reads each channel at k isolated samples.
C3 first concentrates each channel's neighbourhood with a dense depthwise conv, then takes
the depthwise dilated conv of that, then mixes channels:

    x --depthwise local conv, s taps--PReLU--depthwise dilated conv k, d--pointwise 1x1--> y
        concentration stage                    comprehensive stage

In 2D the concentration is a pair of asymmetric convs (s x 1 and 1 x s) with a
non-linearity between; in 1D it is one depthwise conv followed by the PReLU. The local size
s defaults to the span of the gap between two taps: 2d - 1 centred (non-causal), d into the
past (causal, where the k windows tile the span k d exactly).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import CausalConv1d
from .prefiltered import FilterThenDilate
from .streaming import BlockState, apply


class CCCBlock(FilterThenDilate):
    """Depthwise local conv, PReLU, depthwise dilated conv, pointwise conv: (B, C_in, T) -> (B, C_out, T).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, dilation: of the depthwise dilated (comprehensive) conv.
        causal: True pads only the past (streaming works); False centres every kernel.
        local_size: taps of the depthwise concentration conv; default as in the module
            docstring. Odd when non-causal.
    """

    size_name = "local_size"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 2,
        causal: bool = True,
        local_size: int | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation, causal, local_size)
        C = in_channels
        self.concentrate = CausalConv1d(C, C, self.local_size, groups=C, causal=causal)
        self.act = nn.PReLU(C)
        self.comprehend = CausalConv1d(C, C, kernel_size, dilation, groups=C, causal=causal)
        self.pointwise = nn.Conv1d(C, out_channels, 1)

    def _stateful(self) -> list[nn.Module]:
        return [self.concentrate, self.comprehend]

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        h = self.act(apply(self.concentrate, x, state, 0, step))  # (B, C_in, T)
        h = apply(self.comprehend, h, state, 1, step)  # (B, C_in, T)
        return self.pointwise(h)  # (B, C_out, T)
