"""The streaming contract shared by the blocks from the literature.

Every block is written once, as ``_run(x, state, step)``: a pass over a (B, C, T) tensor in
which each causal sub-layer is applied through ``apply``. The same code then serves three
passes:

    forward(x)            state is None      each sub-layer runs its full forward
    stream(x, state)      a chunk, T >= 0    each sub-layer runs ``stream`` on its own state
    step(x, state)        one sample, T = 1  each sub-layer runs ``step`` (O(k) ring buffer)

so streaming cannot drift from the forward. The state is a ``BlockState``: the ``ConvState``
of every stateful sub-layer, in the order the block lists them. It is owned by the caller,
updated in place and returned, and never part of ``state_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from ..layers import ConvState


@dataclass
class BlockState:
    """Streaming state of a block: one state per stateful sub-layer, in the block's order."""

    convs: list[Any] = field(default_factory=list)
    """The sub-layers' states (``ConvState`` for a ``CausalConv1d``)."""

    @property
    def batch_size(self) -> int:
        for s in self.convs:
            if isinstance(s, ConvState):
                return s.batch_size
        raise ValueError("BlockState holds no ConvState to read a batch size from")

    def clone(self) -> "BlockState":
        """A deep copy: streaming from the copy leaves this state untouched."""
        return type(self)([s.clone() for s in self.convs])


def apply(layer: nn.Module, x: torch.Tensor, state: BlockState | None, index: int, step: bool,
          **kwargs) -> Any:
    """Run ``layer`` on ``x`` in the current pass: its forward when ``state`` is None, else
    ``layer.step`` or ``layer.stream`` on ``state.convs[index]``, which is replaced by the
    layer's new state."""
    if state is None:
        return layer(x, **kwargs)
    run = layer.step if step else layer.stream
    y, state.convs[index] = run(x, state.convs[index], **kwargs)
    return y


class StreamingBlock(nn.Module):
    """Base of the literature blocks: forward, ``init_state``, ``step`` and ``stream`` on (B, C, T).

    A subclass sets ``in_channels`` and ``causal``, lists its stateful sub-layers in
    ``_stateful()`` (each with ``init_state(batch, device, dtype)``, ``step`` and ``stream``)
    and implements ``_run(x, state, step)``, where ``state`` is None in the plain forward.
    """

    in_channels: int
    causal: bool

    def _stateful(self) -> Sequence[nn.Module]:
        raise NotImplementedError

    def _run(self, x: torch.Tensor, state: BlockState | None, step: bool,
             **kwargs) -> torch.Tensor:
        raise NotImplementedError

    def _new_state(self, convs: list, batch_size: int, device: torch.device | str | None,
                   dtype: torch.dtype | None) -> BlockState:
        """Wrap the sub-layers' states; a block with more state (a running sum) overrides this."""
        return BlockState(convs)

    def _check_input(self, x: torch.Tensor, where: str) -> None:
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__}.{where}: expected input of shape "
                             f"(B, {self.in_channels}, T), got {tuple(x.shape)}")

    def _check_streaming(self, where: str) -> None:
        if not self.causal:
            raise ValueError(f"{type(self).__name__}.{where}: streaming needs causal=True, "
                             "this block was built with causal=False")

    def _check_state(self, state: BlockState, where: str) -> None:
        n = len(self._stateful())
        if not isinstance(state, BlockState) or len(state.convs) != n:
            got = f"{type(state).__name__} with {len(state.convs)} sub-states" \
                if isinstance(state, BlockState) else type(state).__name__
            raise ValueError(f"{type(self).__name__}.{where}: expected the state made by this "
                             f"block's init_state ({n} sub-states), got {got}")

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """(B, C_in, T) -> (B, C_out, T)."""
        self._check_input(x, "forward")
        return self._run(x, None, False, **kwargs)

    def init_state(self, batch_size: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> BlockState:
        """A zero history, as if the input were preceded by silence (the forward's padding)."""
        self._check_streaming("init_state")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{type(self).__name__}.init_state: batch_size must be an integer "
                             f">= 1, got {batch_size!r}")
        convs = [m.init_state(batch_size, device, dtype) for m in self._stateful()]
        return self._new_state(convs, batch_size, device, dtype)

    def stream(self, x: torch.Tensor, state: BlockState,
               **kwargs) -> tuple[torch.Tensor, BlockState]:
        """A chunk: (B, C_in, T) -> ((B, C_out, T), state); chunks in sequence equal the forward."""
        self._check_streaming("stream")
        self._check_input(x, "stream")
        self._check_state(state, "stream")
        return self._run(x, state, False, **kwargs), state

    def step(self, x: torch.Tensor, state: BlockState,
             **kwargs) -> tuple[torch.Tensor, BlockState]:
        """One sample: (B, C_in) or (B, C_in, 1) -> ((B, C_out, 1), state)."""
        self._check_streaming("step")
        if x.dim() == 2:
            x = x.unsqueeze(-1)  # (B, C, 1)
        self._check_input(x, "step")
        if x.shape[-1] != 1:
            raise ValueError(f"{type(self).__name__}.step: expected one time step, "
                             f"got T={x.shape[-1]}")
        self._check_state(state, "step")
        return self._run(x, state, True, **kwargs), state
