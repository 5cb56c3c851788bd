"""The WaveNet gated residual block (van den Oord et al. 2016, "WaveNet: A Generative Model
for Raw Audio", section 2.3-2.5).

    x --dilated causal conv--> [filter | gate] (+ local 1x1 + global proj)
      z = tanh(filter) * sigmoid(gate)
      out  = x + W_res z        (to the next block)
      skip = W_skip z           (summed over blocks by the model)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..layers import CausalConv1d, ConvState


class GatedResidualBlock(nn.Module):
    """Gated dilated convolution with residual and skip outputs, on (B, C, T) tensors.

    Args:
        residual_channels: channels of the residual stream (input and output).
        gate_channels: output channels of the dilated conv, split in a tanh half and a
            sigmoid half (r9y9's convention: 128 gate channels give 64 gated channels).
        skip_channels: channels of the skip output.
        kernel_size, dilation: of the dilated convolution.
        local_channels: channels of upsampled local conditioning (0: none).
        global_channels: size of the global (speaker) embedding (0: none).
        dropout: dropout on the block's input during training.
        causal: False gives the non-causal form used by parallel vocoders.
        weight_norm: weight normalisation on every convolution.
        residual: False drops the residual projection (the last block of a stack, whose
            residual output nobody reads); ``out`` is then the input unchanged.
    """

    def __init__(
        self,
        residual_channels: int,
        gate_channels: int,
        skip_channels: int,
        kernel_size: int = 2,
        dilation: int = 1,
        local_channels: int = 0,
        global_channels: int = 0,
        dropout: float = 0.0,
        causal: bool = True,
        weight_norm: bool = False,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if gate_channels < 2 or gate_channels % 2:
            raise ValueError(f"gate_channels must be even and >= 2, got {gate_channels}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        half = gate_channels // 2
        wn = nn.utils.parametrizations.weight_norm if weight_norm else (lambda m: m)
        self.dropout = dropout
        self.conv = CausalConv1d(residual_channels, gate_channels, kernel_size, dilation,
                                 causal=causal, weight_norm=weight_norm)
        self.local = wn(nn.Conv1d(local_channels, gate_channels, 1, bias=False)) if local_channels else None
        self.glob = wn(nn.Linear(global_channels, gate_channels, bias=False)) if global_channels else None
        self.res = wn(nn.Conv1d(half, residual_channels, 1)) if residual else None
        self.skip = wn(nn.Conv1d(half, skip_channels, 1))

    @property
    def receptive_field(self) -> int:
        return self.conv.receptive_field

    def _gate(self, h: torch.Tensor, x: torch.Tensor, local: torch.Tensor | None,
              speaker: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if (local is None) != (self.local is None):
            raise ValueError("GatedResidualBlock: local conditioning must be given exactly when "
                             "the block has local_channels > 0")
        if (speaker is None) != (self.glob is None):
            raise ValueError("GatedResidualBlock: global conditioning must be given exactly when "
                             "the block has global_channels > 0")
        if local is not None:
            if local.shape[-1] != h.shape[-1] or local.shape[0] != h.shape[0]:
                raise ValueError(f"GatedResidualBlock: local conditioning has shape "
                                 f"{tuple(local.shape)}, input has {tuple(x.shape)}")
            h = h + self.local(local)
        if speaker is not None:
            h = h + self.glob(speaker).unsqueeze(-1)
        a, b = h.chunk(2, dim=1)
        z = torch.tanh(a) * torch.sigmoid(b)  # (B, G/2, T)
        return (x + self.res(z) if self.res is not None else x), self.skip(z)

    def forward(self, x: torch.Tensor, local: torch.Tensor | None = None,
                speaker: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, T), local (B, C_local, T), speaker (B, C_global) -> (out (B, C, T), skip (B, S, T))."""
        h = self.conv(F.dropout(x, self.dropout, self.training))
        return self._gate(h, x, local, speaker)

    def init_state(self, batch_size: int, device=None, dtype=None) -> ConvState:
        return self.conv.init_state(batch_size, device, dtype)

    def step(self, x: torch.Tensor, state: ConvState, local: torch.Tensor | None = None,
             speaker: torch.Tensor | None = None):
        """One time step: x (B, C, 1) -> ((out (B, C, 1), skip (B, S, 1)), state)."""
        h, state = self.conv.step(x, state)
        return self._gate(h, x if x.dim() == 3 else x.unsqueeze(-1), local, speaker), state

    def stream(self, x: torch.Tensor, state: ConvState, local: torch.Tensor | None = None,
               speaker: torch.Tensor | None = None):
        """A chunk: x (B, C, T) -> ((out, skip), state), equal to the full forward."""
        h, state = self.conv.stream(x, state)
        return self._gate(h, x, local, speaker), state
