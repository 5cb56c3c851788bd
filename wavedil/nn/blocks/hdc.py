"""Hybrid dilated convolution (Wang et al. 2018, "Understanding Convolution for Semantic
Segmentation", WACV), in 1D.

Equal dilations > 1 in a row leave whole residue classes of the input unread (gridding):

    dilations 2, 2, 2 (k = 3):  offsets 0, 2, 4, ..., 12 reached; 1, 3, 5, ... never

HDC uses a group of rates with no common factor > 1, such as the sawtooth 1, 2, 5, chosen
so that the group's receptive field has no holes: with M_n = r_n and
M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i), the condition is M_2 <= K.
The stack repeats the group (1, 2, 5, 1, 2, 5, ...); the condition is checked on one group,
as in the paper, where each group of layers is designed on its own.
"""

from __future__ import annotations

import math
from functools import reduce
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..layers import CausalConv1d
from ..receptive import GriddingReport, gridding, hdc_condition, hdc_m2, receptive_field, \
    sawtooth_dilations
from .checks import positive_int, positive_ints
from .streaming import BlockState, StreamingBlock, apply


class HDCStack(StreamingBlock):
    """A stack of dilated convs with sawtooth rates, ReLU between layers: (B, C, T) -> (B, C, T).

    Args:
        channels: C, the channels of input, hidden layers and output.
        kernel_size: taps of every conv (K of the HDC condition).
        rates: one group of rates, e.g. (1, 2, 5) or (1, 2, 3).
        repeats: how many times the group is stacked.
        causal: True pads only the past (streaming works); False centres every kernel.
        check: validate ``rates`` with the HDC condition (``wavedil.nn.receptive.hdc_condition``)
            and raise ValueError when it fails; False builds any schedule (for comparison).
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        rates: Sequence[int] = (1, 2, 5),
        repeats: int = 1,
        causal: bool = True,
        check: bool = True,
    ) -> None:
        super().__init__()
        where = "HDCStack"
        positive_int(where, "channels", channels)
        positive_int(where, "kernel_size", kernel_size)
        positive_int(where, "repeats", repeats)
        rates = positive_ints(where, "rates", rates)
        if check and not hdc_condition(kernel_size, rates):
            common, m2 = reduce(math.gcd, rates), hdc_m2(rates)
            if len(rates) == 1:
                why = f"a single layer of dilation {rates[0]} skips samples"
            elif common > 1:
                why = f"they share the factor {common}"
            else:
                why = f"M_2 = {m2} > kernel_size"
            raise ValueError(
                f"HDCStack: rates {rates} fail the HDC condition for kernel_size={kernel_size} "
                f"({why}); use e.g. (1, 2, 5), or check=False to build it anyway"
            )
        self.in_channels = self.channels = channels
        self.kernel_size, self.rates, self.repeats = kernel_size, rates, repeats
        self.causal = causal
        self.dilations = sawtooth_dilations(rates, repeats)
        self.convs = nn.ModuleList(CausalConv1d(channels, channels, kernel_size, d, causal=causal)
                                   for d in self.dilations)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, self.dilations)

    def gridding(self) -> GriddingReport:
        """Which input offsets reach one output through the whole stack (holes, coverage)."""
        return gridding(self.kernel_size, self.dilations)

    def _stateful(self) -> list[nn.Module]:
        return list(self.convs)

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            if i:
                h = F.relu(h)
            h = apply(conv, h, state, i, step)  # (B, C, T)
        return h
