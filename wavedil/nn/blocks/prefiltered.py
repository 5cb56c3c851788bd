"""Efficient smoothing of dilated convolutions by a learnable pre-filter (Ziegler, Fritsche,
Kuhn and Donhauser 2019, "Efficient Smoothing of Dilated Convolutions for Image
Segmentation", ETH Zurich), in 1D.

Gridding comes from the dilated conv sampling its input every d samples; a low-pass filter
before it removes what the sampling would alias. The pre-filter is depthwise (one kernel
per channel), learnable, and starts as the average over the dilation's span:

    x --depthwise pre-filter, size s, weights 1/s--> dilated conv k, d --> y

    causal:     s = d, offsets 0 .. d - 1: each tap averages the d samples up to it, and the
                k windows tile the span k d exactly
    non-causal: s = d for odd d, d + 1 for even d (the smallest odd size >= d, centred)

Unlike the shared smoothing of Wang and Ji (``SmoothedDilatedConv1d``), every channel has its
own filter, and it starts as a mean, not as the identity.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import CausalConv1d
from ..receptive import receptive_field
from .checks import odd_when_centred, positive_int
from .streaming import BlockState, StreamingBlock, apply


class FilterThenDilate(StreamingBlock):
    """Base of the blocks that filter each channel over a short window, then run a dilated
    conv on the result: pre-filtered (here), smoothed (``smoothed.py``) and CCC (``ccc.py``).

    It checks the arguments, keeps the sizes and gives the receptive field; a subclass
    builds its two stateful stages and lists them, filter first, in ``_stateful()``. The
    default ``_run`` applies them in turn; a block with more stages overrides it.
    """

    size_name = "filter_size"
    """The subclass's name of the filter size: the attribute that holds it, and in errors."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 causal: bool, filter_size: int | None) -> None:
        super().__init__()
        where = type(self).__name__
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("dilation", dilation)):
            positive_int(where, name, value)
        if filter_size is None:
            filter_size = self._default_size(dilation, causal)
        positive_int(where, self.size_name, filter_size)
        odd_when_centred(where, self.size_name, filter_size, causal)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation, self.causal = kernel_size, dilation, causal
        setattr(self, self.size_name, filter_size)

    @staticmethod
    def _default_size(dilation: int, causal: bool) -> int:
        """d taps into the past (the k windows tile the span k d), or 2d - 1 centred."""
        return dilation if causal else 2 * dilation - 1

    @property
    def receptive_field(self) -> int:
        return receptive_field([getattr(self, self.size_name), self.kernel_size], [1, self.dilation])

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        prefilter, conv = self._stateful()
        h = apply(prefilter, x, state, 0, step)  # (B, C_in, T), filtered
        return apply(conv, h, state, 1, step)  # (B, C_out, T)


class PreFilteredDilatedConv1d(FilterThenDilate):
    """Depthwise averaging pre-filter, then a dilated conv: (B, C_in, T) -> (B, C_out, T).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, dilation: of the dilated conv.
        causal: True pads only the past (streaming works); False centres both kernels.
        prefilter_size: taps of the pre-filter; default as in the module docstring.
            Odd when non-causal.
        bias: bias of the dilated conv.
    """

    size_name = "prefilter_size"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 2,
        causal: bool = True,
        prefilter_size: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation, causal, prefilter_size)
        self.prefilter = CausalConv1d(in_channels, in_channels, self.prefilter_size,
                                      groups=in_channels, bias=False, causal=causal)
        with torch.no_grad():
            self.prefilter.weight.fill_(1.0 / self.prefilter_size)  # the mean over the window
        self.conv = CausalConv1d(in_channels, out_channels, kernel_size, dilation,
                                 causal=causal, bias=bias)

    @staticmethod
    def _default_size(dilation: int, causal: bool) -> int:
        return dilation if causal else dilation | 1

    def _stateful(self) -> list[nn.Module]:
        return [self.prefilter, self.conv]
