"""What the engines' planner chooses (``planner.py``), in a module that needs no numba: the
requests a caller may make (:data:`PLANS`, :data:`CHOICES`), a :class:`Choice` and the
:class:`Decision` that holds it with its reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...native.plans import PLANS  # noqa: F401  (the requests a caller may make)
from ..plan import WEIGHTS

FAST = "fast"
CHOICES = (*WEIGHTS, FAST)
"""What ``weights`` may ask for: a format, or the fastest of ``planner.FAST_FORMATS``."""


@dataclass(frozen=True)
class Choice:
    """A configuration of the numba engine: its weight format and the threads it uses
    (``NumbaEngine.threads``)."""

    weights: str
    threads: int

    def label(self, batch_size: int, pairable: bool = True) -> str:
        """E.g. "bf16-dot, one thread" or "fp32, 2 threads (one stream shared)"."""
        if self.threads == 1:
            how = "one thread"
        elif batch_size == 1:
            how = f"{self.threads} threads (one stream shared)" if pairable else "one thread"
        else:
            how = f"{self.threads} threads (streams split)"
        return f"{self.weights}, {how}"


@dataclass(frozen=True)
class Decision:
    """What the planner chose and why: ``how`` says where the choice came from (measured,
    cached or the fixed default, and why), ``rates`` the candidates' measured samples/s (all
    streams) by label, empty where nothing was measured."""

    choice: Choice
    how: str
    batch_size: int
    rates: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: the choice, how it was made, the rates measured."""
        line = f"{self.choice.label(self.batch_size)}: {self.how}"
        if self.rates:
            line += "; " + ", ".join(f"{k} {v:,.0f}" for k, v in
                                     sorted(self.rates.items(), key=lambda kv: -kv[1]))
            line += " samples/s"
        return line
