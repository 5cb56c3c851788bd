"""Local conditioning: frame features (log-mel, f0, ...) at hop H, upsampled to one vector per sample.

    frames (B, F, N)  --causal conv over frames-->  (B, C, N)  --upsample x s1, x s2, ...-->  (B, C, N*H)

Each upsampling stage is a depthwise transposed convolution with kernel = stride = s, so
frame n maps to exactly samples [n*H, (n+1)*H): the alignment is exact, and the output for a
frame is final as soon as the frame (and the frames before it, through the causal pre-net)
has arrived. That is what lets a vocoder stream: ``stream`` takes frames as they come.
Stages start as nearest-neighbour repetition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .layers import CausalConv1d, ConvState


class LocalConditioner(nn.Module):
    """Frame features (B, in_channels, N) -> per-sample conditioning (B, channels, N * hop)."""

    def __init__(self, in_channels: int, channels: int, scales: Sequence[int],
                 kernel_size: int = 3) -> None:
        super().__init__()
        scales = list(scales)
        if in_channels < 1 or channels < 1:
            raise ValueError(f"conditioning channels must be >= 1, got {in_channels}, {channels}")
        if not scales or any(not isinstance(s, int) or s < 1 for s in scales):
            raise ValueError(f"upsample scales must be integers >= 1, got {scales}")
        self.in_channels, self.channels, self.scales = in_channels, channels, scales
        self.hop = math.prod(scales)
        self.prenet = CausalConv1d(in_channels, channels, kernel_size)
        self.stages = nn.ModuleList(
            nn.ConvTranspose1d(channels, channels, s, stride=s, groups=channels, bias=False)
            for s in scales
        )
        for stage in self.stages:
            nn.init.ones_(stage.weight)

    def _check(self, frames: torch.Tensor, where: str) -> None:
        if frames.dim() != 3 or frames.shape[1] != self.in_channels:
            raise ValueError(
                f"{where}: expected local features of shape (B, {self.in_channels}, frames), "
                f"got {tuple(frames.shape)}"
            )

    def _upsample(self, h: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(h, 0.2)
        for stage in self.stages:
            h = stage(h)
        return h

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, N) -> (B, channels, N * hop)."""
        self._check(frames, "LocalConditioner")
        return self._upsample(self.prenet(frames))

    def init_state(self, batch_size: int, device=None, dtype=None) -> ConvState:
        return self.prenet.init_state(batch_size, device, dtype)

    def stream(self, frames: torch.Tensor, state: ConvState) -> tuple[torch.Tensor, ConvState]:
        """Frames as they arrive: (B, in_channels, n) -> (B, channels, n * hop)."""
        self._check(frames, "LocalConditioner.stream")
        h, state = self.prenet.stream(frames, state)
        return self._upsample(h), state


def check_stream_sizes(n_samples: int | None, batch_size: int, chunk_size: int) -> None:
    """The sizes every family's ``stream`` takes (samples per stream, streams, samples per
    chunk): a ValueError naming the one out of range."""
    if n_samples is not None and n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")


def frame_chunks(local: torch.Tensor | Iterable[torch.Tensor], B: int) -> Iterator[torch.Tensor]:
    """Local conditioning given whole (a tensor) or chunk by chunk (an iterable of them), each
    chunk as (B, channels, frames): a (channels, frames) or (1, channels, frames) chunk is
    shared by the B streams; any other shape is a ValueError."""
    for chunk in [local] if isinstance(local, torch.Tensor) else local:
        chunk = torch.as_tensor(chunk)
        if chunk.dim() == 2:
            chunk = chunk.unsqueeze(0)
        if chunk.shape[0] == 1 and B > 1:
            chunk = chunk.expand(B, -1, -1)
        if chunk.dim() != 3 or chunk.shape[0] != B:
            raise ValueError(f"local conditioning chunks must be (B={B}, channels, frames), "
                             f"got {tuple(chunk.shape)}")
        yield chunk
