"""The efficient spatial pyramid (ESP) module (Mehta, Rastegari, Caspi, Shapiro and
Hajishirzi 2018, "ESPNet: Efficient Spatial Pyramid of Dilated Convolutions for Semantic
Segmentation", ECCV), in 1D.

Reduce, split, transform, merge:

    x --1x1 reduce to n--+-- conv k, d=1 ---------------------------- o1 --+
                         +-- conv k, d=2 -- o2 = s2 ------------------------+
                         +-- conv k, d=4 -- o4 --(+ s2)-- s4 ----------------+-- concat --(+ x)--PReLU--> y
                         +-- conv k, d=8 -- o8 --(+ s4)-- s8 ----------------+
                         +-- ...                                              (C_out channels)

Hierarchical feature fusion (HFF): the dilated branches (all but the first) are summed
cumulatively before the concatenation, so each wide branch also carries the narrower ones
and the gridding of a single wide dilation does not reach the output. With K branches each
has n = C_out // K channels and the first takes the remainder. The residual shortcut
needs C_in == C_out. Batch normalisation is left out.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..layers import CausalConv1d
from ..receptive import receptive_field
from .checks import positive_int, positive_ints
from .streaming import BlockState, StreamingBlock, apply


class ESPBlock1d(StreamingBlock):
    """ESP module: (B, C_in, T) -> (B, C_out, T).

    Args:
        in_channels, out_channels: channel counts; ``out_channels`` >= the number of branches.
        kernel_size: taps of every branch.
        dilations: one per branch, e.g. 1, 2, 4, 8, 16 (the paper's K = 5).
        residual: add the input to the output (needs in_channels == out_channels).
        causal: True pads only the past (streaming works); False centres every kernel.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8, 16),
        residual: bool = True,
        causal: bool = True,
    ) -> None:
        super().__init__()
        where = "ESPBlock1d"
        positive_int(where, "in_channels", in_channels)
        positive_int(where, "out_channels", out_channels)
        positive_int(where, "kernel_size", kernel_size)
        dilations = positive_ints(where, "dilations", dilations)
        K = len(dilations)
        if out_channels < K:
            raise ValueError(f"ESPBlock1d: out_channels={out_channels} must be >= the number of "
                             f"branches, {K} (dilations {dilations})")
        if residual and in_channels != out_channels:
            raise ValueError(f"ESPBlock1d: a residual block needs in_channels == out_channels, "
                             f"got {in_channels} and {out_channels} (or pass residual=False)")
        n = out_channels // K
        widths = [out_channels - (K - 1) * n] + [n] * (K - 1)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilations = kernel_size, dilations
        self.residual, self.causal = residual, causal
        self.reduce = nn.Conv1d(in_channels, n, 1)
        self.branches = nn.ModuleList(CausalConv1d(n, w, kernel_size, d, causal=causal)
                                      for w, d in zip(widths, dilations))
        self.act = nn.PReLU(out_channels)

    @property
    def receptive_field(self) -> int:
        """The widest branch after the 1x1 reduction (HFF only adds branches side by side)."""
        return max(receptive_field([1, self.kernel_size], [1, d]) for d in self.dilations)

    def _stateful(self) -> list[nn.Module]:
        return list(self.branches)

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        r = self.reduce(x)  # (B, n, T)
        outs = [apply(b, r, state, i, step) for i, b in enumerate(self.branches)]
        fused = outs[:1]
        for o in outs[1:]:
            fused.append(o if len(fused) == 1 else fused[-1] + o)  # HFF: cumulative sums
        y = torch.cat(fused, dim=1)  # (B, C_out, T)
        return self.act(x + y if self.residual else y)
