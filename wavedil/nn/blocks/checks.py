"""Argument checks shared by the blocks: a bad value raises ValueError naming it."""

from __future__ import annotations

from typing import Any, Sequence


def positive_int(where: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an integer >= ``minimum``, else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def positive_ints(where: str, name: str, values: Sequence[Any], allow_empty: bool = False) -> list[int]:
    """``values`` as a list if every entry is an integer >= 1 (and, unless ``allow_empty``,
    there is at least one), else ValueError naming them."""
    values = list(values)
    if not values and not allow_empty:
        raise ValueError(f"{where}: {name} must name at least one value, got []")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"{where}: {name} must be integers >= 1, got {values}")
    return values


def odd_when_centred(where: str, name: str, value: int, causal: bool) -> int:
    """A non-causal kernel must have a centre tap, so an odd size; ValueError otherwise."""
    if not causal and value % 2 == 0:
        raise ValueError(f"{where}: a non-causal block needs an odd {name} (a centred kernel), "
                         f"got {value}")
    return value
