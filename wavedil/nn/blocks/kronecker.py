"""Kronecker convolution (Wu et al. 2019, "Tree-structured Kronecker Convolutional Network for
Semantic Segmentation", ICME), in 1D.

The kernel is the Kronecker product of a k-tap kernel K with a factor F of r1 taps whose
first r2 are 1 and the rest 0. The inter-dilation factor r1 spreads the taps like a
dilation; the intra-sharing factor r2 lets each tap read r2 neighbouring samples with one
shared weight:

    k = 3, r1 = 4, r2 = 2:   K (x) F = [w0 w0 0 0 | w1 w1 0 0 | w2 w2]     span (k - 1) r1 + r2

r2 = 1 is a dilated conv with dilation r1; r2 = r1 skips nothing. Reading the expansion
backwards gives the cheap form used here, which is exactly equal:

    y = dilated_conv_{k, r1}( sum_pool_{r2}(x) )     sum_pool: depthwise, r2 taps of 1, fixed

so the cost is one dilated conv plus r2 additions per sample, not a conv of the full span.
Output at t (``L = (k - 1) r1 + r2``, ``left = L - 1`` causal, ``(L - 1) // 2`` non-causal):

    y[t] = b + sum_j W[:, :, j] @ sum_{i < r2} x[t - left + j r1 + i]
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..layers import CausalConv1d
from ..receptive import receptive_field
from .checks import positive_int
from .streaming import BlockState, StreamingBlock, apply


class KroneckerConv1d(StreamingBlock):
    """Kronecker convolution, a fixed sum-pool of r2 taps then a conv dilated by r1:
    (B, C_in, T) -> (B, C_out, T).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: k, the taps of the learnt kernel K.
        r1: inter-dilation factor, the spacing of the taps, >= 1.
        r2: intra-sharing factor, the samples each tap sums, 1 <= r2 <= r1.
        causal: True pads only the past (streaming works); False centres the whole span.
        bias: bias of the conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        r1: int = 4,
        r2: int = 2,
        causal: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        where = "KroneckerConv1d"
        positive_int(where, "in_channels", in_channels)
        positive_int(where, "out_channels", out_channels)
        positive_int(where, "kernel_size", kernel_size)
        positive_int(where, "r1", r1)
        positive_int(where, "r2", r2)
        if r2 > r1:
            raise ValueError(f"KroneckerConv1d: the intra-sharing factor r2={r2} must not exceed "
                             f"the inter-dilation factor r1={r1} (the taps' windows would overlap)")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.r1, self.r2, self.causal = kernel_size, r1, r2, causal
        self.pool = CausalConv1d(in_channels, in_channels, r2, groups=in_channels, bias=False,
                                 causal=causal)
        with torch.no_grad():
            self.pool.weight.fill_(1.0)
        self.pool.weight.requires_grad_(False)  # the factor F is fixed, only K is learnt
        self.conv = CausalConv1d(in_channels, out_channels, kernel_size, r1, causal=causal,
                                 bias=bias)

    @property
    def span(self) -> int:
        """Samples covered by the expanded kernel K (x) F: ``(k - 1) r1 + r2``."""
        return self.receptive_field

    @property
    def receptive_field(self) -> int:
        return receptive_field([self.r2, self.kernel_size], [1, self.r1])

    def expanded_weight(self) -> torch.Tensor:
        """The equivalent dense kernel K (x) F: (C_out, C_in, span), for analysis."""
        w = self.conv.weight  # (C_out, C_in, k)
        factor = w.new_zeros(self.r1)
        factor[: self.r2] = 1.0
        full = torch.einsum("oik,r->oikr", w, factor).reshape(*w.shape[:2], -1)
        return full[..., : self.span]

    def _stateful(self) -> list[nn.Module]:
        return [self.pool, self.conv]

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool) -> torch.Tensor:
        if self.causal:
            pooled = apply(self.pool, x, state, 0, step)  # (B, C_in, T): sum of x[t-r2+1 .. t]
            return apply(self.conv, pooled, state, 1, step)  # (B, C_out, T)
        # Centre the whole span, not each stage: pad once, then two unpadded convs.
        L = self.span
        left = (L - 1) // 2
        xp = F.pad(x, (left, L - 1 - left))  # (B, C_in, T + L - 1)
        pooled = F.conv1d(xp, self.pool.weight, groups=self.in_channels)  # (B, C_in, T + (k-1) r1)
        return F.conv1d(pooled, self.conv.weight, self.conv.bias, dilation=self.r1)  # (B, C_out, T)
