"""Gradient clipping at a fixed norm and at a quantile of the run's own gradient norms.

A fixed ceiling (``train.grad_clip``) is blind to scale: an effect model trained on the
error-to-signal ratio has gradient norms an order of magnitude larger in its first steps than
a few hundred steps later, so a ceiling that never hurts the start lets a later step of many
times the typical norm through, and at a high learning rate one such step can throw the run
out of the basin it had reached (seen on the embedded amp at lr 0.02). AutoClip (Seetharaman,
Wichern, Pardo and Le Roux, "AutoClip: adaptive gradient clipping for source separation
networks", MLSP 2020) clips each step's norm at a quantile of the norms of every step before
it (``train.grad_clip_quantile``), so the ceiling follows the run. Both may be set: the lower
ceiling applies. The history (kept only where a quantile is set) is part of the trainer's
state, saved in each checkpoint, so a resumed run clips as the uninterrupted one.
"""

from __future__ import annotations

import math

import numpy as np
import torch


class GradientClip:
    """The ceiling of each step's global gradient norm, and the norms seen so far."""

    def __init__(self, fixed: float, quantile: float) -> None:
        """fixed: the ceiling (0: none); quantile in [0, 1): clip at that quantile of the
        earlier steps' norms (0: none)."""
        self.fixed, self.quantile = fixed, quantile
        self.norms: list[float] = []

    @property
    def enabled(self) -> bool:
        return bool(self.fixed or self.quantile)

    def limit(self) -> float:
        """This step's ceiling: the lower of the fixed one and the quantile of the earlier
        norms (none before the first step: the first step is clipped by the fixed one only)."""
        out = self.fixed or math.inf
        if self.quantile and self.norms:
            out = min(out, float(np.quantile(np.asarray(self.norms), self.quantile)))
        return out

    def __call__(self, parameters) -> torch.Tensor:
        """Clip the gradients of ``parameters`` in place at :meth:`limit` and return their
        norm before clipping; where a quantile is set the norm is remembered (read back from
        the device: the only step that waits for it), unless it is not finite."""
        norm = torch.nn.utils.clip_grad_norm_(list(parameters), self.limit())
        if self.quantile:
            value = float(norm)
            if math.isfinite(value):
                self.norms.append(value)
        return norm

    def state_dict(self) -> dict:
        return {"norms": list(self.norms)}

    def load_state_dict(self, state: dict | None) -> None:
        self.norms = list(state["norms"]) if state else []
