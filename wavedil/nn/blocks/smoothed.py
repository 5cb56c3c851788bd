"""Smoothed dilated convolution by a shared separable convolution (Wang and Ji 2018,
"Smoothed Dilated Convolutions for Improved Dense Prediction", KDD; the separable and
shared, "SS", convolution), in 1D.

A dilated conv reads every d-th sample, so neighbouring outputs read disjoint inputs
(gridding). Wang and Ji put before it one small filter, shared by all channels and applied
to each channel separately, that lets each tap see the samples in the gaps:

    x --shared smoothing (1 kernel, every channel)--> dilated conv k, d --> y

    non-causal: size 2d - 1, centred: each tap reads d - 1 samples either side (the paper's)
    causal:     size d, offsets 0 .. d - 1 into the past: the windows of the k taps tile the
                span (k - 1) d + d exactly, so every sample in it is read, none twice

The smoothing kernel starts as the identity (1 at the centre or newest tap, 0 elsewhere, as
in the authors' code), so the untrained block is a plain dilated conv. It has 2d - 1 (or d)
parameters whatever the channel count.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import CausalConv1d, ConvState
from .context import identity_tap
from .prefiltered import FilterThenDilate


class SharedSmoothing(nn.Module):
    """One 1D kernel applied to every channel: (B, C, T) -> (B, C, T).

    The channels are folded into the batch, (B, C, T) -> (B * C, 1, T), and one
    single-channel ``CausalConv1d`` runs on them; its streaming state has batch B * C.
    """

    def __init__(self, channels: int, size: int, causal: bool = True) -> None:
        super().__init__()
        self.channels, self.size, self.causal = channels, size, causal
        self.conv = CausalConv1d(1, 1, size, causal=causal, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0, identity_tap(size, causal)] = 1.0

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 1, x.shape[-1])  # (B * C, 1, T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self._fold(x)).view_as(x)

    def init_state(self, batch_size: int, device=None, dtype=None) -> ConvState:
        return self.conv.init_state(batch_size * self.channels, device, dtype)

    def step(self, x: torch.Tensor, state: ConvState) -> tuple[torch.Tensor, ConvState]:
        y, state = self.conv.step(self._fold(x), state)
        return y.view_as(x), state

    def stream(self, x: torch.Tensor, state: ConvState) -> tuple[torch.Tensor, ConvState]:
        y, state = self.conv.stream(self._fold(x), state)
        return y.view_as(x), state


class SmoothedDilatedConv1d(FilterThenDilate):
    """Shared smoothing, then a dilated conv: (B, C_in, T) -> (B, C_out, T).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, dilation: of the dilated conv.
        causal: True pads only the past (streaming works); False centres both kernels.
        smoothing_size: taps of the shared smoothing kernel; default 2d - 1 (non-causal,
            the paper's) or d (causal, see the module docstring). Odd when non-causal.
        bias: bias of the dilated conv.
    """

    size_name = "smoothing_size"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 2,
        causal: bool = True,
        smoothing_size: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation, causal, smoothing_size)
        self.smooth = SharedSmoothing(in_channels, self.smoothing_size, causal)
        self.conv = CausalConv1d(in_channels, out_channels, kernel_size, dilation,
                                 causal=causal, bias=bias)

    def _stateful(self) -> list[nn.Module]:
        return [self.smooth, self.conv]
