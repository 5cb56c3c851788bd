"""The activations of an effect model's layers, each a counterpart of one of Neural Amp
Modeler's (``NAM/activations.h`` in NeuralAmpModelerCore; :data:`wavedil.effect.nam.NAM_ACTIVATIONS`
gives the names).

A layer names its activation in one of two ways:

    "tanh"                                         a name, the function alone
    {"name": "prelu", "negative_slopes": [...]}    a name and its parameters

:data:`ACTIVATIONS` are the functions every engine plays (the compiled one too);
:data:`PARAMETERS` lists the further ones, which the torch engine alone plays, and the
parameters each takes (a parameter left out takes NAM's default):

    hardswish        x * clamp(x + 3, 0, 6) / 6
    leaky_relu       x > 0 ? x : negative_slope * x        (negative_slope 0.01: the plain name)
    prelu            leaky_relu with negative_slopes, one per channel, or one negative_slope
    leaky_hardtanh   x below min_val: min_val + (x - min_val) * min_slope, above max_val:
                     max_val + (x - max_val) * max_slope, else x   (-1, 1, 0.01, 0.01)
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch.nn import functional as F

FAST_TANH = (2.45550750702956, 0.893229853513558, 0.821226666969744, 2.44506634652299,
             0.814642734961073)
"""The constants a, b, c, d, e of Neural Amp Modeler's fast tanh (:func:`fast_tanh`)."""


def fast_tanh(x: torch.Tensor) -> torch.Tensor:
    """Neural Amp Modeler's fast tanh (``fast_tanh`` in NeuralAmpModelerCore's
    ``NAM/activations.h``), the rational function

        x (a + a|x| + (b + c|x|) x^2) / (d + (d + x^2) |x + e x |x||)

    with the operations in NAM's order, so that in float32 it rounds as NAM's does. It is
    within 4.4e-4 of tanh for |x| < 8 (the largest difference near |x| = 0.58) and tends to
    +-c/e = +-1.0081 instead of +-1. NAM's plugin plays every tanh layer with it."""
    a, b, c, d, e = FAST_TANH
    ax, x2 = x.abs(), x * x
    return x * (a + a * ax + (b + c * ax) * x2) / (d + (d + x2) * (x + e * x * ax).abs())


ACTIVATIONS = {
    "tanh": torch.tanh,
    "fast_tanh": fast_tanh,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "hardtanh": F.hardtanh,
    "softsign": F.softsign,
    "silu": F.silu,
    "leaky_relu": F.leaky_relu,
}
"""Activation name -> function: the activations every engine plays (each has a NAM
counterpart: wavedil.effect.nam.NAM_ACTIVATIONS)."""

PARAMETERS: dict[str, dict[str, Any]] = {
    "hardswish": {},
    "leaky_relu": {"negative_slope": 0.01},
    "prelu": {"negative_slope": 0.01, "negative_slopes": None},
    "leaky_hardtanh": {"min_val": -1.0, "max_val": 1.0, "min_slope": 0.01, "max_slope": 0.01},
}
"""Activation name -> its parameters and their defaults, for the activations that take
parameters or that the torch engine alone plays (prelu takes negative_slopes or
negative_slope, not both)."""

NAMES = (*ACTIVATIONS, *(name for name in PARAMETERS if name not in ACTIVATIONS))
"""Every activation name a layer may give."""


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def activation_name(spec: Any) -> str | None:
    """The name of an activation given as a name or a mapping (None where it is neither)."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        return spec["name"]
    return None


def check_activation(spec: Any, channels: int) -> str:
    """Why ``spec`` is no activation of a layer of ``channels`` channels ("" where it is
    one): an unknown name, a parameter the activation does not take or a bad value."""
    name = activation_name(spec)
    if name not in NAMES:
        return (f"must be one of {', '.join(NAMES)} (or a mapping with a name and its "
                f"parameters), got {spec!r}")
    if isinstance(spec, str):
        return "" if name != "prelu" else "prelu needs its negative_slopes (a mapping)"
    known = PARAMETERS.get(name, {})
    unknown = [k for k in spec if k != "name" and k not in known]
    if unknown:
        return (f"{name} takes " + (", ".join(known) if known else "no parameters")
                + f", got {', '.join(map(str, unknown))}")
    for key, value in spec.items():
        if key == "negative_slopes":
            if not (isinstance(value, list) and value and all(map(_is_number, value))):
                return f"prelu's negative_slopes must be a non-empty list of numbers, got {value!r}"
            if len(value) not in (1, channels):
                return (f"prelu's negative_slopes must be one per channel ({channels}), got "
                        f"{len(value)}")
        elif key != "name" and not _is_number(value):
            return f"{name}'s {key} must be a finite number, got {value!r}"
    if name == "prelu" and {"negative_slope", "negative_slopes"} <= set(spec):
        return "prelu takes negative_slopes or negative_slope, not both"
    return ""


def activation(spec: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function of a checked activation spec (:func:`check_activation`): (B, C, T) ->
    (B, C, T)."""
    name = activation_name(spec)
    given = {k: v for k, v in spec.items() if k != "name"} if isinstance(spec, dict) else {}
    if name in ACTIVATIONS and not given:
        return ACTIVATIONS[name]
    p = dict(PARAMETERS[name], **given)
    if name == "hardswish":
        return lambda x: x * (x + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)
    if name == "leaky_relu":
        return lambda x: F.leaky_relu(x, p["negative_slope"])
    if name == "prelu":
        slopes = p["negative_slopes"] or [p["negative_slope"]]

        def prelu(x: torch.Tensor) -> torch.Tensor:
            s = torch.tensor(slopes, dtype=x.dtype, device=x.device)[:, None]  # (C or 1, 1)
            return torch.where(x > 0, x, s * x)
        return prelu
    lo, hi, s_lo, s_hi = p["min_val"], p["max_val"], p["min_slope"], p["max_slope"]
    return lambda x: torch.where(x < lo, (x - lo) * s_lo + lo,
                                 torch.where(x > hi, (x - hi) * s_hi + hi, x))


def plain(spec: Any) -> bool:
    """Whether ``spec`` is an activation every engine plays (a name of :data:`ACTIVATIONS`)."""
    return isinstance(spec, str) and spec in ACTIVATIONS


def renamed(spec: Any, old: str, new: str) -> Any:
    """``spec`` (a name, a mapping, or a list of them, one per layer) with activation ``old``
    named ``new``."""
    if isinstance(spec, list):
        return [renamed(s, old, new) for s in spec]
    if spec == old:
        return new
    if isinstance(spec, dict) and spec.get("name") == old:
        return dict(spec, name=new)
    return spec


__all__ = ["ACTIVATIONS", "FAST_TANH", "NAMES", "PARAMETERS", "activation", "activation_name",
           "check_activation", "fast_tanh", "plain", "renamed"]
