"""Atrous spatial pyramid pooling (Chen, Papandreou, Schroff and Adam 2017, "Rethinking Atrous
Convolution for Semantic Image Segmentation", DeepLab v3, section 3.3), in 1D.

Parallel branches look at the same input at several scales, and one branch at all of it:

    x --+-- 1x1 conv ---------------------ReLU--+
        +-- conv k, rate r1 --------------ReLU--+
        +-- ...                                 +-- concat --1x1 conv--ReLU--> y
        +-- conv k, rate rn --------------ReLU--+
        +-- global mean --1x1 conv--ReLU--------+   (broadcast over time)

Non-causal: the global mean is over the whole input, as in the paper. Causal: it is the
cumulative mean, g[t] = mean(x[0 .. t]), so no output reads the future; streaming keeps the
running sum and the count in the state. Batch normalisation is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..layers import CausalConv1d
from ..receptive import receptive_field
from .checks import positive_int, positive_ints
from .streaming import BlockState, StreamingBlock, apply


@dataclass
class ASPPState(BlockState):
    """Streaming state of ``ASPP1d``: the branches' ConvStates and the causal running mean."""

    total: torch.Tensor | None = None
    """(B, C_in): sum of every input seen so far."""
    count: int = 0
    """Time steps seen so far."""

    def clone(self) -> "ASPPState":
        return ASPPState([s.clone() for s in self.convs],
                         None if self.total is None else self.total.clone(), self.count)


class ASPP1d(StreamingBlock):
    """Atrous spatial pyramid pooling on (B, C_in, T) -> (B, C_out, T).

    Args:
        in_channels, out_channels: channels of input and output (and of every branch).
        rates: dilations of the atrous branches (6, 12, 18 in the paper at output stride 16).
        kernel_size: taps of the atrous branches.
        pooling: include the global pooling branch (it makes the receptive field unbounded).
        causal: True pads only the past and pools cumulatively (streaming works).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        rates: Sequence[int] = (6, 12, 18),
        kernel_size: int = 3,
        pooling: bool = True,
        causal: bool = True,
    ) -> None:
        super().__init__()
        where = "ASPP1d"
        positive_int(where, "in_channels", in_channels)
        positive_int(where, "out_channels", out_channels)
        positive_int(where, "kernel_size", kernel_size)
        rates = positive_ints(where, "rates", rates)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.rates, self.kernel_size, self.pooling, self.causal = rates, kernel_size, pooling, causal
        self.point = nn.Conv1d(in_channels, out_channels, 1)
        self.atrous = nn.ModuleList(CausalConv1d(in_channels, out_channels, kernel_size, r,
                                                 causal=causal) for r in rates)
        self.pool_proj = nn.Conv1d(in_channels, out_channels, 1) if pooling else None
        branches = 1 + len(rates) + (1 if pooling else 0)
        self.project = nn.Conv1d(branches * out_channels, out_channels, 1)

    @property
    def conv_receptive_field(self) -> int:
        """Receptive field of the conv branches alone (the widest one)."""
        return max([receptive_field(1, [1])] +
                   [receptive_field(self.kernel_size, [r]) for r in self.rates])

    @property
    def receptive_field(self) -> int | float:
        """``math.inf`` with the pooling branch (it reads the whole past, or the whole input
        when non-causal); else the widest conv branch."""
        return math.inf if self.pooling else self.conv_receptive_field

    def _stateful(self) -> list[nn.Module]:
        return list(self.atrous)

    def _new_state(self, convs: list, batch_size: int, device, dtype) -> ASPPState:
        p = self.point.weight
        total = torch.zeros(batch_size, self.in_channels,
                            device=device if device is not None else p.device,
                            dtype=dtype if dtype is not None else p.dtype)
        return ASPPState(convs, total, 0)

    def _check_state(self, state: BlockState, where: str) -> None:
        super()._check_state(state, where)
        if not isinstance(state, ASPPState):
            raise ValueError(f"ASPP1d.{where}: expected an ASPPState from ASPP1d.init_state, "
                             f"got {type(state).__name__}")

    def _global_mean(self, x: torch.Tensor, state: ASPPState | None) -> torch.Tensor:
        """(B, C_in, T) -> the whole-input mean (B, C_in, 1), or the causal running mean
        (B, C_in, T)."""
        T = x.shape[-1]
        if not self.causal:
            return x.mean(-1, keepdim=True)  # (B, C_in, 1)
        sums = x.cumsum(-1)  # (B, C_in, T)
        start = 0
        if state is not None:
            if state.total.shape != x.shape[:2]:
                raise ValueError(f"ASPP1d: state running sum has shape {tuple(state.total.shape)}, "
                                 f"input has (B, C) = {tuple(x.shape[:2])}")
            sums = sums + state.total.unsqueeze(-1)
            start = state.count
            if T:
                state.total = sums[..., -1].clone()
            state.count += T
        counts = torch.arange(start + 1, start + T + 1, device=x.device, dtype=x.dtype)
        return sums / counts  # (B, C_in, T)

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        outs = [F.relu(self.point(x))]
        outs += [F.relu(apply(conv, x, state, i, step)) for i, conv in enumerate(self.atrous)]
        if self.pool_proj is not None:
            g = F.relu(self.pool_proj(self._global_mean(x, state)))  # (B, C_out, 1 or T)
            outs.append(g.expand(-1, -1, x.shape[-1]))
        return F.relu(self.project(torch.cat(outs, dim=1)))  # (B, C_out, T)
