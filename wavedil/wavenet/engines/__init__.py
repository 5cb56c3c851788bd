"""Generation engines: the same incremental computation (``plan.step``) on different back ends.

- ``torch``: eager PyTorch ops, any device (CPU or CUDA).
- ``numba``: a compiled CPU loop over whole chunks (see ``numba_engine``), its matrix
  products done by a kernel: ``kernel="c"`` the C kernel of ``native``, ``"numba"`` numba's
  own loops, ``"auto"`` the C kernel where it builds.

``auto`` picks numba on CPU when it imports, torch otherwise. ``planner.py`` measures which
configuration of the numba engine (threads, and for ``weights="fast"`` the weight format) is
fastest on the machine and remembers it.
"""

from __future__ import annotations

import torch

from ...native import kernel as native
from ...native.build import cpu_model
from ...native.plans import PlanCache, summary
from ..plan import WEIGHTS, Plan, make_plan
from .torch_engine import TorchEngine

ENGINES = ("auto", "torch", "numba")
KERNELS = ("auto", "c", "numba")


def resolve_engine(name: str, device: torch.device | str) -> str:
    """The engine ``name`` stands for on ``device``: "auto" is numba on the CPU when it
    imports, torch otherwise."""
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {name!r}")
    if name != "auto":
        return name
    return "numba" if torch.device(device).type == "cpu" and _numba_available() else "torch"


def resolve_kernel(kernel: str | native.Kernel | native.Unavailable, engine: str,
                   found: native.Kernel | native.Unavailable | None = None
                   ) -> native.Kernel | native.Unavailable | None:
    """The matrix kernel that ``kernel`` asks of the resolved ``engine``: "numba" numba's own
    loops, "c" the C kernel (ValueError with the reason where it is unavailable), "auto" the C
    kernel where it builds; an object from ``native.load`` stands for itself. None for the torch
    engine, which uses none. ``found`` stands for ``native.load()``'s result."""
    if not isinstance(kernel, str):
        return kernel
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}; got {kernel!r}")
    if engine == "torch":
        if kernel == "c":
            raise ValueError("kernel='c' runs in the numba engine; this run uses the torch engine")
        return None
    if kernel == "numba":
        return native.Unavailable("kernel='numba'")
    found = native.load() if found is None else found
    if kernel == "c" and not found.available:
        raise ValueError(f"kernel='c': the C kernel is unavailable: {found.reason}")
    return found


def make_engine(name: str, model, batch_size: int, speaker: torch.Tensor | None = None,
                kernel: str | native.Kernel | native.Unavailable = "auto", weights: str = "fp32",
                threads: int | None = None):
    """Build engine ``name`` for ``model`` and ``batch_size`` streams, the numba engine with
    ``kernel`` (see :func:`resolve_kernel`) and ``threads`` (``NumbaEngine``'s; None: all of
    numba's), either with its large matrices in the format ``weights`` (``plan.WEIGHTS``)."""
    device = next(model.parameters()).device
    name = resolve_engine(name, device)
    chosen = resolve_kernel(kernel, name)
    if name == "numba":
        if device.type != "cpu":
            raise ValueError("the numba engine runs on the CPU; use engine='torch' on CUDA")
        from .numba_engine import NumbaEngine

        return NumbaEngine(model, batch_size, speaker, chosen, weights, threads)
    return TorchEngine(model, batch_size, speaker, weights)


def system_info() -> dict:
    """This machine's generation set-up, one fact each: torch, numba, the C compiler, the
    kernel the numba engine would use, threads, the CPU; and under "plans" what the compiled
    engines' planners have stored for this CPU (``wavedil.native.plans``), by model shape:
    the choice, the best rate and when it was measured."""
    numba, threads = "not installed (the torch engine only)", ""
    if _numba_available():
        import numba as nb

        numba, threads = nb.__version__, f", numba {nb.get_num_threads()}"
    cache = PlanCache()
    plans = {key: summary(entry) for key, entry in cache.entries().items()}
    return {"torch": torch.__version__, "numba": numba,
            "C compiler": native.find_compiler() or "none (cc, gcc or clang) on PATH",
            "kernel": native.load().status, "threads": f"torch {torch.get_num_threads()}{threads}",
            "cpu": cpu_model(),
            "plans": plans or {"(none stored)": f"{cache.path}: measured on first use, or by "
                               "wavedil tune"}}


def _numba_available() -> bool:
    try:
        from . import numba_engine  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["ENGINES", "KERNELS", "WEIGHTS", "Plan", "TorchEngine", "make_engine", "make_plan",
           "resolve_engine", "resolve_kernel", "system_info"]
