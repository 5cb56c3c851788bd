"""CausalConv1d: a dilated 1D convolution whose output at time t reads inputs at times <= t,
with an explicit streaming state.

Padding (causal mode) puts all of the kernel's span in the past:

    pad = (k - 1) * d
    input:   [0 0 0 0 | x0 x1 x2 ...]        output y_t reads x_{t-(k-1)d} ... x_t
              <- pad ->

In streaming, the state is a ring buffer holding the last ``(k - 1) * d`` inputs and the
index of the oldest one. One ``step`` reads k - 1 entries and overwrites one: O(k) work, no
shift of the history. The state is a plain object owned by the caller and never part of the
module's ``state_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class ConvState:
    """Streaming state of one CausalConv1d: the last ``(k - 1) * d`` inputs as a ring buffer."""

    buffer: torch.Tensor
    """(B, C_in, (k - 1) * d); ``buffer[..., pos]`` is the oldest input."""
    pos: int = 0
    """Index of the oldest entry, where the next input is written."""

    @property
    def batch_size(self) -> int:
        return self.buffer.shape[0]

    def history(self) -> torch.Tensor:
        """The buffered inputs in time order, oldest first: (B, C_in, (k - 1) * d)."""
        return torch.roll(self.buffer, -self.pos, dims=-1) if self.pos else self.buffer

    def clone(self) -> "ConvState":
        return ConvState(self.buffer.clone(), self.pos)


def check_state(state: ConvState, batch_size: int, channels: int, length: int,
                device: torch.device, where: str) -> None:
    """Raise ValueError if ``state`` was not made for this layer, batch and device."""
    shape = (batch_size, channels, length)
    if tuple(state.buffer.shape) != shape:
        raise ValueError(
            f"{where}: state buffer has shape {tuple(state.buffer.shape)}, expected {shape} "
            "(a state made for another batch size or layer?)"
        )
    if state.buffer.device != device:
        raise ValueError(f"{where}: state is on {state.buffer.device}, input is on {device}")


class CausalConv1d(nn.Module):
    """Dilated 1D convolution, causal by default, on (B, C, T) tensors; output length = input length.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: taps, >= 1.
        dilation: spacing of the taps in samples, >= 1.
        groups, bias: as in ``torch.nn.Conv1d``.
        causal: True pads only the past; False centres the kernel ("same" padding, for
            analysis models). Streaming needs ``causal=True``.
        weight_norm: reparametrise the weight with ``torch.nn.utils.parametrizations.weight_norm``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        causal: bool = True,
        weight_norm: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("dilation", dilation),
                            ("groups", groups)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"CausalConv1d: {name} must be an integer >= 1, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"CausalConv1d: groups={groups} must divide in_channels={in_channels} "
                f"and out_channels={out_channels}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation, self.groups = kernel_size, dilation, groups
        self.causal = causal
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size,
                              dilation=dilation, groups=groups, bias=bias)
        if weight_norm:
            self.conv = nn.utils.parametrizations.weight_norm(self.conv)

    @property
    def padding(self) -> int:
        """Total zero padding, ``(k - 1) * d``: all on the left when causal."""
        return (self.kernel_size - 1) * self.dilation

    @property
    def receptive_field(self) -> int:
        return self.padding + 1

    @property
    def weight(self) -> torch.Tensor:
        return self.conv.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.conv.bias

    def _check_input(self, x: torch.Tensor, where: str) -> None:
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"CausalConv1d.{where}: expected input of shape (B, {self.in_channels}, T), "
                f"got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, T) -> (B, C_out, T)."""
        self._check_input(x, "forward")
        pad = self.padding
        left = pad if self.causal else pad // 2
        return self.conv(F.pad(x, (left, pad - left)))

    # -- streaming ------------------------------------------------------------------------

    def init_state(self, batch_size: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> ConvState:
        """A zero history, as if the input were preceded by silence (the forward's padding)."""
        if not self.causal:
            raise ValueError("CausalConv1d: streaming needs causal=True")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        w = self.weight
        buf = torch.zeros(batch_size, self.in_channels, self.padding,
                          device=device if device is not None else w.device,
                          dtype=dtype if dtype is not None else w.dtype)
        return ConvState(buf, 0)

    def step(self, x: torch.Tensor, state: ConvState) -> tuple[torch.Tensor, ConvState]:
        """One time step: (B, C_in) or (B, C_in, 1) -> (B, C_out, 1), and the advanced state.

        The state's buffer is updated in place and returned.
        """
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        self._check_input(x, "step")
        if x.shape[-1] != 1:
            raise ValueError(f"CausalConv1d.step: expected one time step, got T={x.shape[-1]}")
        B, k, d = x.shape[0], self.kernel_size, self.dilation
        check_state(state, B, self.in_channels, self.padding, x.device, "CausalConv1d.step")
        w = self.weight  # (C_out, C_in / groups, k)
        if k == 1:
            return F.conv1d(x, w, self.bias, groups=self.groups), state
        buf = state.buffer
        col = state.pos % d
        taps = buf.view(B, self.in_channels, k - 1, d)[..., col]  # (B, C_in, k-1), rotated
        row = state.pos // d
        if row:
            taps = torch.roll(taps, -row, dims=-1)  # oldest first
        window = torch.cat([taps, x], dim=-1)  # (B, C_in, k)
        if self.groups == 1:
            y = window.reshape(B, -1) @ w.reshape(w.shape[0], -1).t()  # (B, C_out)
            if self.bias is not None:
                y = y + self.bias
            y = y.unsqueeze(-1)
        else:
            y = F.conv1d(window, w, self.bias, groups=self.groups)
        buf[..., state.pos] = x[..., 0]
        state.pos = (state.pos + 1) % self.padding
        return y, state

    def stream(self, x: torch.Tensor, state: ConvState,
               keep: int | None = None) -> tuple[torch.Tensor, ConvState]:
        """A chunk of any length: (B, C_in, T) -> (B, C_out, T), equal to the full forward.
        ``keep``: only x's first ``keep`` samples enter the state; the rest are scratch columns
        (their outputs causal, so the first ``keep`` outputs are the same)."""
        self._check_input(x, "stream")
        B, T = x.shape[0], x.shape[-1]
        keep = T if keep is None else keep
        if not 0 <= keep <= T:
            raise ValueError(f"CausalConv1d.stream: keep must be in 0..{T}, got {keep}")
        check_state(state, B, self.in_channels, self.padding, x.device, "CausalConv1d.stream")
        if T == 0:
            return x.new_zeros(B, self.out_channels, 0), state
        if self.padding == 0:
            return self.conv(x), state
        full = torch.cat([state.history(), x], dim=-1)  # (B, C_in, pad + T)
        y = self.conv(full)
        state.buffer.copy_(full[..., keep:keep + self.padding])
        state.pos = 0
        return y, state
