"""Degridding, from Dilated Residual Networks (Yu, Koltun and Funkhouser 2017, "Dilated
Residual Networks", CVPR; DRN-C), in 1D.

A stack of residual units with growing dilation leaves a gridding pattern in its output.
DRN-C ends with layers of *decreasing* dilation and *no residual connections*, so that the
gridding cannot pass through an identity shortcut and is filtered out by the last, dense
(dilation 1) layers:

    x --[unit d=1]--[unit d=2]--[unit d=4]--[unit d=8]--conv d=4--ReLU--conv d=2--ReLU--conv d=1--ReLU--> y
        residual units: h -> ReLU(h + conv_b(ReLU(conv_a(h))))    degridding: no shortcut

Batch normalisation of the paper is left out, as everywhere in wavedil.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..layers import CausalConv1d
from ..receptive import receptive_field
from .checks import positive_int, positive_ints
from .streaming import BlockState, StreamingBlock, apply


class DegriddingStack(StreamingBlock):
    """Residual dilated units, then decreasing-dilation layers without shortcuts: (B, C, T) -> (B, C, T).

    Args:
        channels: C, the channels of input, hidden layers and output.
        kernel_size: taps of every conv.
        dilations: one per residual unit (two convs of that dilation each); may be empty.
        degrid_dilations: the degridding layers, non-increasing and ending at 1
            (DRN-C uses 2, 1 after its dilation-4 group).
        causal: True pads only the past (streaming works); False centres every kernel.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8),
        degrid_dilations: Sequence[int] = (4, 2, 1),
        causal: bool = True,
    ) -> None:
        super().__init__()
        where = "DegriddingStack"
        positive_int(where, "channels", channels)
        positive_int(where, "kernel_size", kernel_size)
        dilations = positive_ints(where, "dilations", dilations, allow_empty=True)
        tail = positive_ints(where, "degrid_dilations", degrid_dilations)
        if any(a < b for a, b in zip(tail, tail[1:])) or tail[-1] != 1:
            raise ValueError(f"DegriddingStack: degrid_dilations must be non-increasing and end "
                             f"at 1, got {tail}")
        self.in_channels = self.channels = channels
        self.kernel_size, self.causal = kernel_size, causal
        self.dilations, self.degrid_dilations = dilations, tail

        def conv(d: int) -> CausalConv1d:
            return CausalConv1d(channels, channels, kernel_size, d, causal=causal)

        self.units = nn.ModuleList(nn.ModuleList([conv(d), conv(d)]) for d in dilations)
        self.degrid = nn.ModuleList(conv(d) for d in tail)

    @property
    def layer_dilations(self) -> list[int]:
        """Dilation of every conv, in order: two per residual unit, then the degridding layers."""
        return [d for d in self.dilations for _ in (0, 1)] + self.degrid_dilations

    @property
    def receptive_field(self) -> int:
        # The shortcuts are shorter paths than the convs they skip: the longest path is the chain.
        return receptive_field(self.kernel_size, self.layer_dilations)

    def _stateful(self) -> list[nn.Module]:
        return [c for unit in self.units for c in unit] + list(self.degrid)

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        h, i = x, 0
        for conv_a, conv_b in self.units:
            r = F.relu(apply(conv_a, h, state, i, step))
            h = F.relu(h + apply(conv_b, r, state, i + 1, step))  # (B, C, T)
            i += 2
        for conv in self.degrid:
            h = F.relu(apply(conv, h, state, i, step))  # no shortcut: gridding stops here
            i += 1
        return h
