"""The non-causal WaveNet of Parallel WaveGAN's generator (Yamamoto, Song and Kim 2020,
"Parallel WaveGAN: A fast waveform generation model based on generative adversarial networks
with multi-resolution spectrogram", ICASSP), after WaveNet (van den Oord et al.
2016).

The generator maps noise to a waveform in one pass, conditioned on upsampled mel frames, so
nothing forces it to be causal: every gated block sees the past and the future.

    x (B, C_in, T) --1x1--> (B, R, T) --block 1--> ... --block L-->
                                           |skip         |skip
                                           +---- sum ----+ * sqrt(1 / L) --ReLU, 1x1, ReLU, 1x1--> (B, C_out, T)

Each block is a ``GatedResidualBlock(causal=False)`` with kernel 3 and dilation
2 ** (i mod layers_per_stack); local conditioning (B, C_local, T) is added to every gate.
``causal=True`` builds the same body as a causal WaveNet, with streaming.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..receptive import layered_dilations, receptive_field
from .checks import positive_int
from .residual import GatedResidualBlock
from .streaming import BlockState, StreamingBlock, apply


class NonCausalWaveNet(StreamingBlock):
    """A stack of gated residual blocks with a skip sum: (B, C_in, T) -> (B, C_out, T).

    Args:
        in_channels, out_channels: channels of input (1 for noise) and output.
        layers: gated blocks (30 in Parallel WaveGAN).
        stacks: dilation cycles; ``layers`` must be a multiple (3 in Parallel WaveGAN).
        residual_channels, gate_channels, skip_channels: widths (64, 128, 64 in the paper).
        kernel_size: taps of every dilated conv (3).
        local_channels: channels of the upsampled conditioning (80 mels; 0: none).
        dropout: dropout on each block's input during training.
        causal: False (the default) centres every kernel; True gives a causal WaveNet body.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        layers: int = 30,
        stacks: int = 3,
        residual_channels: int = 64,
        gate_channels: int = 128,
        skip_channels: int = 64,
        kernel_size: int = 3,
        local_channels: int = 0,
        dropout: float = 0.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        where = "NonCausalWaveNet"
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("layers", layers), ("stacks", stacks),
                            ("residual_channels", residual_channels),
                            ("skip_channels", skip_channels), ("kernel_size", kernel_size)):
            positive_int(where, name, value)
        positive_int(where, "local_channels", local_channels, minimum=0)
        if layers % stacks:
            raise ValueError(f"NonCausalWaveNet: layers={layers} must be a multiple of "
                             f"stacks={stacks}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.local_channels, self.causal = kernel_size, local_channels, causal
        self.dilations = layered_dilations(layers, layers // stacks)
        self.first = nn.Conv1d(in_channels, residual_channels, 1)
        self.blocks = nn.ModuleList(
            GatedResidualBlock(residual_channels, gate_channels, skip_channels, kernel_size, d,
                               local_channels=local_channels, dropout=dropout, causal=causal)
            for d in self.dilations
        )
        self.last = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1),
                                  nn.ReLU(), nn.Conv1d(skip_channels, out_channels, 1))

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, self.dilations)

    def _stateful(self) -> list[nn.Module]:
        return list(self.blocks)

    def _check_local(self, local: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
        if (local is None) != (self.local_channels == 0):
            raise ValueError(f"NonCausalWaveNet: local conditioning must be given exactly when "
                             f"local_channels > 0 (local_channels={self.local_channels}, "
                             f"local {'missing' if local is None else 'given'})")
        if local is None:
            return None
        if local.dim() == 2 and x.shape[-1] == 1:
            local = local.unsqueeze(-1)  # one step: (B, C_local) -> (B, C_local, 1)
        B, _, T = x.shape
        if tuple(local.shape) != (B, self.local_channels, T):
            raise ValueError(f"NonCausalWaveNet: local conditioning has shape "
                             f"{tuple(local.shape)}, expected {(B, self.local_channels, T)}")
        return local

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool,
             local: torch.Tensor | None = None) -> torch.Tensor:
        local = self._check_local(local, x)
        h, skips = self.first(x), 0.0  # (B, R, T)
        for i, block in enumerate(self.blocks):
            h, s = apply(block, h, state, i, step, local=local)  # (B, R, T), (B, S, T)
            skips = skips + s
        return self.last(skips * math.sqrt(1.0 / len(self.blocks)))  # (B, C_out, T)

    def forward(self, x: torch.Tensor, local: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C_in, T), local (B, C_local, T) -> (B, C_out, T)."""
        return super().forward(x, local=local)

    def stream(self, x: torch.Tensor, state: BlockState,
               local: torch.Tensor | None = None) -> tuple[torch.Tensor, BlockState]:
        """A chunk: x (B, C_in, T), local (B, C_local, T) -> ((B, C_out, T), state)."""
        return super().stream(x, state, local=local)

    def step(self, x: torch.Tensor, state: BlockState,
             local: torch.Tensor | None = None) -> tuple[torch.Tensor, BlockState]:
        """One sample: x (B, C_in[, 1]), local (B, C_local[, 1]) -> ((B, C_out, 1), state)."""
        return super().step(x, state, local=local)
