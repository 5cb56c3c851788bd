"""The multi-scale context aggregation module of Yu and Koltun (2016), "Multi-Scale Context
Aggregation by Dilated Convolutions" (ICLR), section 3 and table 1 (the basic module), in 1D.

    x --conv k,d1--ReLU--conv k,d2--ReLU-- ... --conv k,d7--ReLU--1x1--> y
            dilations 1, 1, 2, 4, 8, 16, 1: the receptive field grows exponentially

Identity initialisation (the paper's section 3): each conv passes its input straight through
(weight 1 from channel c to channel c at one tap, 0 elsewhere, bias 0), so an untrained
module returns its input and training only adds context. The identity tap is the centre tap
(non-causal) or the newest tap (causal).

The ReLUs between the layers would clip a negative input, so with ``signed=True`` (the
default) the hidden layers carry 2C channels, the positive and the negative part of the
input: the first conv writes [x, -x], the ReLUs keep [x+, x-], and the final 1x1 returns
x+ - x- = x exactly, for inputs of either sign. ``signed=False`` is the paper's C-channel
module, which is the identity for non-negative inputs (such as post-ReLU features).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..layers import CausalConv1d
from ..receptive import receptive_field
from .checks import odd_when_centred, positive_int, positive_ints
from .streaming import BlockState, StreamingBlock, apply

YU_KOLTUN_DILATIONS = (1, 1, 2, 4, 8, 16, 1)
"""Dilations of layers 1-7 of the basic context module (Yu and Koltun 2016, table 1)."""


def identity_tap(kernel_size: int, causal: bool) -> int:
    """The tap of a kernel that reads the output's own time step: the newest tap (causal) or
    the centre tap (non-causal "same" padding, odd kernels)."""
    return kernel_size - 1 if causal else kernel_size // 2


class ContextModule(StreamingBlock):
    """Yu and Koltun's (2016) context module on (B, C, T): (B, C, T) -> (B, C, T).

    Args:
        channels: C, the channels of input and output.
        kernel_size: taps of each dilated conv (3 in the paper); odd when ``causal=False``.
        dilations: one per dilated layer; the paper's 1, 1, 2, 4, 8, 16, 1 by default.
        causal: True pads only the past (streaming works); False centres every kernel.
        signed: hidden width 2C so that the identity initialisation holds for inputs of
            either sign (see the module docstring); False gives the paper's width C.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        dilations: Sequence[int] = YU_KOLTUN_DILATIONS,
        causal: bool = True,
        signed: bool = True,
    ) -> None:
        super().__init__()
        where = "ContextModule"
        positive_int(where, "channels", channels)
        positive_int(where, "kernel_size", kernel_size)
        dilations = positive_ints(where, "dilations", dilations)
        odd_when_centred(where, "kernel_size", kernel_size, causal)
        self.in_channels = self.channels = channels
        self.kernel_size, self.dilations = kernel_size, dilations
        self.causal, self.signed = causal, signed
        hidden = 2 * channels if signed else channels
        widths = [channels] + [hidden] * len(dilations)
        self.convs = nn.ModuleList(
            CausalConv1d(c_in, hidden, kernel_size, d, causal=causal)
            for c_in, d in zip(widths[:-1], dilations)
        )
        self.out = nn.Conv1d(hidden, channels, 1)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The identity initialisation: the untrained module returns its input."""
        C, tap = self.channels, identity_tap(self.kernel_size, self.causal)
        eye = torch.eye(C)
        sign = torch.cat([eye, -eye]) if self.signed else eye  # (hidden, C)
        for i, conv in enumerate(self.convs):
            conv.weight.zero_()
            conv.weight[:, :, tap] = sign if i == 0 else torch.eye(conv.out_channels)
            conv.bias.zero_()
        self.out.weight[:, :, 0] = sign.t()  # (C, hidden): x+ - x-
        self.out.bias.zero_()

    @property
    def receptive_field(self) -> int:
        """Samples of input that reach one output: the dilated stack, then the 1x1."""
        n = len(self.dilations)
        return receptive_field([self.kernel_size] * n + [1], self.dilations + [1])

    def _stateful(self) -> list[nn.Module]:
        return list(self.convs)

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            h = F.relu(apply(conv, h, state, i, step))  # (B, hidden, T)
        return self.out(h)  # (B, C, T)
