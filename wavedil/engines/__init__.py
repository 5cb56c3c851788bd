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


def resolve_engine(name: str, device: torch.device | str) -> str:
    """The engine ``name`` stands for on ``device``: "auto" is numba on the CPU when it
    imports, torch otherwise."""
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {name!r}")
    if name != "auto":
        return name
    return "numba" if torch.device(device).type == "cpu" and _numba_available() else "torch"


def make_engine(name: str, model, batch_size: int, speaker: torch.Tensor | None = None):
    """Build engine ``name`` for ``model`` and ``batch_size`` streams."""
    device = next(model.parameters()).device
    cpu = device.type == "cpu"
    name = resolve_engine(name, device)
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


__all__ = ["ENGINES", "Plan", "TorchEngine", "make_engine", "make_plan", "resolve_engine"]
