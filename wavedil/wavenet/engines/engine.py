"""What every generation engine holds: the model's plan, its state and static biases."""

from __future__ import annotations

import torch

from ...dsp.audio import mulaw_decode
from ..model import WaveNet
from ..plan import empty_state, feed, make_plan, static_biases


class Engine:
    """What every engine holds for ``batch_size`` streams: the model's plan and head, the
    state (``plan.WaveNetState``) and the static biases. Subclasses run it:
    ``sample(n, u, cond, temperature)`` draws n values per stream, (B, n); ``force(values,
    cond)`` feeds given values (B, n) (teacher forcing) and returns the logits (n, B, out).
    ``weights``: the plan's weight format (``plan.WEIGHTS``)."""

    name = ""

    def __init__(self, model: WaveNet, batch_size: int,
                 speaker: torch.Tensor | None = None, weights: str = "fp32") -> None:
        self.head = model.head
        self.weights_format = weights
        self.plan = make_plan(model, weights=weights)
        self.batch_size = B = batch_size
        features = self.plan.features
        # silence before the first sample; the next input is zero until set_input
        self.state = empty_state(self.plan.ring_rows, B, self.plan.residual_channels,
                                 None if features is None else features.history,
                                 self.plan.embed.device, self.plan.embed.dtype)
        self.static = static_biases(self.plan, speaker)  # (L, B or 1, 2G)

    def state_numel(self) -> int:
        """Values held in the cache: the sum over layers of (k - 1) * d * B * C."""
        return self.state.ring.numel()

    def set_input(self, values: torch.Tensor) -> None:
        """Set the next input from head-space values (B,): class ids or samples."""
        x = mulaw_decode(values, self.plan.classes) if self.plan.mulaw_input else values
        feed(self.plan, self.state, x)
