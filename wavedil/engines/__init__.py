"""Generation engines: the same incremental computation on different back ends.

- ``torch``: eager PyTorch ops, any device (CPU or CUDA).
- ``numba``: a compiled CPU loop over whole chunks (see ``numba_engine``).

``auto`` picks numba on CPU when it imports, torch otherwise.
"""

from __future__ import annotations

import torch

from .plan import Plan, make_plan
from .torch_engine import TorchEngine

ENGINES = ("auto", "torch", "numba")


def make_engine(name: str, model, batch_size: int, speaker: torch.Tensor | None = None):
    """Build engine ``name`` for ``model`` and ``batch_size`` streams."""
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {name!r}")
    cpu = next(model.parameters()).device.type == "cpu"
    if name == "auto":
        name = "numba" if cpu and _numba_available() else "torch"
    if name == "numba":
        if not cpu:
            raise ValueError("the numba engine runs on the CPU; use engine='torch' on CUDA")
        from .numba_engine import NumbaEngine

        return NumbaEngine(model, batch_size, speaker)
    return TorchEngine(model, batch_size, speaker)


def _numba_available() -> bool:
    try:
        from . import numba_engine  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["ENGINES", "Plan", "TorchEngine", "make_engine", "make_plan"]
