"""What every config dataclass shares: one shape of error for a bad value or an unknown key, and
building from a mapping (a recipe section, a checkpoint) with keys and types checked.

    WaveNetConfig(kernel_size=0)      WaveNetConfig.kernel_size must be >= 1, got 0
    the same in recipe.yaml           recipe.yaml: model.kernel_size must be >= 1, got 0
    WaveNetConfig.from_dict({"layerz": 3})
                                      WaveNetConfig.layerz is unknown (did you mean 'layers'?); ...

The recipe loader re-issues an error under the recipe's section and file with
:meth:`ConfigError.within`; the message is built once, from its parts, never edited.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from typing import Any

def is_int(x: object) -> bool:
    """An integer that is not a bool (YAML's true is not a count)."""
    return isinstance(x, int) and not isinstance(x, bool)


def is_number(x: object) -> bool:
    """An int or a float that is not a bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class ConfigError(ValueError):
    """A bad key or value, in one line: ``{where}: {config}.{key} {detail}``."""

    def __init__(self, config: str, key: str, detail: str, where: str = "") -> None:
        super().__init__(config, key, detail, where)  # every part, so that it pickles
        self.config, self.key, self.detail, self.where = config, key, detail, where

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{where}{self.config}.{self.key} {self.detail}"

    def within(self, config: str | None = None, where: str = "") -> "ConfigError":
        """The same error named as ``config`` (a recipe section) in file ``where``."""
        return ConfigError(config or self.config, self.key, self.detail, where)


def need(config: str, ok: bool, key: str, allowed: str, got: Any, where: str = "") -> None:
    """Raise ``{config}.{key} must be {allowed}, got {got!r}`` unless ``ok``."""
    if not ok:
        raise ConfigError(config, key, f"must be {allowed}, got {got!r}", where)


def check_keys(config: str, given: Iterable[Any], known: Iterable[str], where: str = "") -> None:
    """Raise a :class:`ConfigError` for the first of ``given`` not in ``known``, suggesting the
    nearest known key for a typo."""
    known = list(known)
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(config, str(key), f"is unknown{hint}; allowed: {', '.join(known)}", where)


class Config:
    """Base of the config dataclasses: :meth:`need` for checks in ``__post_init__``,
    :meth:`from_dict` and :meth:`to_dict`."""

    def need(self, ok: bool, key: str, allowed: str) -> None:
        """Raise ``{Class}.{key} must be {allowed}, got {value of the field}`` unless ``ok``."""
        if not ok:
            need(type(self).__name__, ok, key, allowed, getattr(self, key))

    def to_dict(self) -> dict:
        """The fields as plain Python values (what a recipe or a checkpoint stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Any:
        """Build from a mapping: unknown keys and values of the wrong type fail with a
        :class:`ConfigError` before ``__post_init__`` checks the values."""
        name, hints = cls.__name__, typing.get_type_hints(cls)
        check_keys(name, values, [f.name for f in fields(cls)])
        values = {k: _coerce(v, hints[k]) for k, v in values.items()}
        for key, value in values.items():
            need(name, _type_ok(value, hints[key]), key, f"of type {_type_name(hints[key])}", value)
        return cls(**values)


def _type_ok(value: Any, annotation: Any) -> bool:
    """Whether a value fits a field annotation (an int is accepted for a float)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is list:
        (inner,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True


def _coerce(value: Any, annotation: Any) -> Any:
    """YAML 1.1 reads '3e-4' as a string; take it as the number a float field means."""
    if isinstance(value, str) and annotation is float:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if type(annotation) is type else str(annotation)


__all__ = ["Config", "ConfigError", "check_keys", "need"]
