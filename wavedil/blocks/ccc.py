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
from ..receptive import receptive_field
from .checks import odd_when_centred, positive_int
from .streaming import BlockState, StreamingBlock, apply


class CCCBlock(StreamingBlock):
    """Depthwise local conv, PReLU, depthwise dilated conv, pointwise conv: (B, C_in, T) -> (B, C_out, T).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, dilation: of the depthwise dilated (comprehensive) conv.
        causal: True pads only the past (streaming works); False centres every kernel.
        local_size: taps of the depthwise concentration conv; default as in the module
            docstring. Odd when non-causal.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 2,
        causal: bool = True,
        local_size: int | None = None,
    ) -> None:
        super().__init__()
        where = "CCCBlock"
        positive_int(where, "in_channels", in_channels)
        positive_int(where, "out_channels", out_channels)
        positive_int(where, "kernel_size", kernel_size)
        positive_int(where, "dilation", dilation)
        if local_size is None:
            local_size = dilation if causal else 2 * dilation - 1
        positive_int(where, "local_size", local_size)
        odd_when_centred(where, "local_size", local_size, causal)
        C = in_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation, self.local_size = kernel_size, dilation, local_size
        self.causal = causal
        self.concentrate = CausalConv1d(C, C, local_size, groups=C, causal=causal)
        self.act = nn.PReLU(C)
        self.comprehend = CausalConv1d(C, C, kernel_size, dilation, groups=C, causal=causal)
        self.pointwise = nn.Conv1d(C, out_channels, 1)

    @property
    def receptive_field(self) -> int:
        return receptive_field([self.local_size, self.kernel_size, 1], [1, self.dilation, 1])

    def _stateful(self) -> list[nn.Module]:
        return [self.concentrate, self.comprehend]

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        h = self.act(apply(self.concentrate, x, state, 0, step))  # (B, C_in, T)
        h = apply(self.comprehend, h, state, 1, step)  # (B, C_in, T)
        return self.pointwise(h)  # (B, C_out, T)
