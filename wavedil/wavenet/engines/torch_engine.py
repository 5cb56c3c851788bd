"""The PyTorch generation engine: :func:`~wavedil.wavenet.plan.step` on any device, one
sample per call.

A step is about six small ops per layer (the window of the dilated conv's taps, its product,
tanh, GLU, the residual product and bias), and the ring is read and written once per step for
all layers together, so nothing is ever shifted.
"""

from __future__ import annotations

import torch

from ..excitation import SampleContext
from ..plan import local_biases, step
from .engine import Engine


class TorchEngine(Engine):
    """Incremental WaveNet inference for ``batch_size`` streams; owns its state."""

    name = "torch"

    def _logits(self, n: int, cond: torch.Tensor | None, context: SampleContext | None):
        """Logits (B, out) of n steps in turn; the caller sets each next input in between."""
        # (n, L, B, 2G): the conditioning's share of every step, summed once per chunk
        biases = (local_biases(self.plan, cond, n) + self.static) if cond is not None else None
        for i in range(n):
            ctx = None if context is None else context[i:i + 1]
            yield step(self.plan, self.state, self.static if biases is None else biases[i], ctx)

    @torch.inference_mode()
    def sample(self, n: int, u: torch.Tensor, cond: torch.Tensor | None = None,
               temperature: float | torch.Tensor = 1.0,
               context: SampleContext | None = None) -> torch.Tensor:
        """Draw ``n`` values per stream with uniforms u (n, B, k), upsampled conditioning
        (B, Cc, n) and, for sample features, their context of the n outputs: the head-space
        values (B, n), each fed back as the next input. ``temperature``: one for every draw,
        or (n, B), each draw's own."""
        if torch.is_tensor(temperature) and tuple(temperature.shape) != (n, self.batch_size):
            raise ValueError(f"temperatures of shape {tuple(temperature.shape)}, expected "
                             f"(n={n}, B={self.batch_size})")
        values = []
        for i, logits in enumerate(self._logits(n, cond, context)):
            values.append(self.head.sample(logits, u[i], temperature[i] if torch.is_tensor(
                temperature) else temperature))
            self.set_input(values[-1])
        return torch.stack(values, 1) if values else torch.empty(self.batch_size, 0)

    @torch.inference_mode()
    def force(self, values: torch.Tensor, cond: torch.Tensor | None = None,
              context: SampleContext | None = None) -> torch.Tensor:
        """Teacher forcing: feed values (B, n) as the inputs after each step; the logits
        (n, B, out)."""
        logits = []
        for i, out in enumerate(self._logits(values.shape[1], cond, context)):
            logits.append(out)
            self.set_input(values[:, i])
        empty = torch.empty(0, self.batch_size, self.head.out_channels)
        return torch.stack(logits) if logits else empty
