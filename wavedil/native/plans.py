"""The file where the compiled engines' planners remember what they measured.

FFTW keeps its wisdom, ATLAS its tuned parameters: a choice measured on the machine, read back
on later runs. Here it is one JSON file in the user's cache (``plans.json`` beside the built
libraries; delete it to measure afresh), written for one CPU model (:func:`build.cpu_model`):

    {"format": "wavedil engine plans 2", "cpu": "...",
     "plans": {"<planner>: <key>": {"build": "<build id>", ...what the planner stores}}}

Each entry carries the build of the code it timed (:func:`build_id`: the C kernel's build key,
numba's version, the compiled loops' source), so the WaveNet's and the effect's planners share
the file. A file that cannot be read or was written on another CPU, and an entry from another
build, are ignored with one warning each and replaced when the planner stores its new choice.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from . import build as cbuild

FILE_FORMAT = "wavedil engine plans 2"
PLANS = ("auto", "measure", "cached", "fixed")
"""How a planner decides: "auto" reads the file and measures on a miss, "measure" measures
again, "cached" never measures (the fixed default unless the file has an answer), "fixed"
takes the fixed default."""
TIE = 0.03
"""Rates within this share of each other count as equal: alternating rounds of 20 ms calls
on a shared machine differ by a few percent, so a planner changes its default only for more."""


class PlanCacheWarning(UserWarning):
    """A plan cache (or an entry of it) was ignored: unreadable, or written for another CPU or
    build."""


def build_id(kernel_build: str, *sources: Path) -> str:
    """The build of an engine's code: the C kernel's build key (``Kernel.build``), numba's
    version and the bytes of the compiled loops' ``sources``, hashed to 16 hex digits."""
    try:
        numba = metadata.version("numba")
    except metadata.PackageNotFoundError:
        numba = "none"
    parts = [kernel_build.encode(), numba.encode(), *(Path(s).read_bytes() for s in sources)]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def relative_rates(rates: dict, reference) -> dict:
    """Rates timed in alternating rounds ({candidate: [per round]}) -> one each: the median,
    over the rounds, of its ratio to ``reference``'s in the same round, times ``reference``'s
    median. A machine whose speed drifts (another process, a clock that changes) moves every
    candidate of a round alike, and the ratios keep their order."""
    base = statistics.median(rates[reference])
    return {c: base * statistics.median(a / b for a, b in zip(r, rates[reference]))
            for c, r in rates.items()}


def stored_or_measured(plan: str, cache: "PlanCache", key: str, build: str,
                       read: Callable[[dict], object], measure: Callable[[], tuple]
                       ) -> tuple[object, dict | None, str]:
    """The planners' one flow for the plans that consult the file ("fixed" is the caller's):
    the stored entry's choice (``read(entry)``: the choice, or None where the entry no longer
    fits), or where there is none and ``plan`` is "auto" or "measure", ``measure()`` -> (the
    choice, its entry, whose "choice" names it in words for ``summary``), stored with the date.
    Returns (choice, entry, "cached" | "measured"), or (None, None, "nothing cached") for
    plan "cached" and nothing stored."""
    if plan not in PLANS or plan == "fixed":
        raise ValueError(f"plan must be one of auto, measure, cached; got {plan!r}")
    if plan in ("auto", "cached"):
        entry = cache.get(key, build)
        chosen = read(entry) if entry is not None else None
        if chosen is not None:
            return chosen, entry, "cached"
        if plan == "cached":
            return None, None, "nothing cached"
    chosen, entry = measure()
    entry = {**entry, "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    cache.put(key, build, entry)
    return chosen, entry, "measured"


def summary(entry: dict) -> str:
    """A stored choice in one line (``wavedil info --system``): what was chosen, the fastest
    rate measured, when."""
    rates = entry.get("rates") or {}
    best = max((float(v) for v in rates.values()), default=0.0)
    return (f"{entry.get('choice', '?')}: {best:,.0f} samples/s at best, measured "
            f"{entry.get('measured')}")


class PlanCache:
    """The planners' file; ``path`` default ``plans.json`` in the package's user cache folder
    (``build.cache_home``)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else cbuild.cache_home() / "plans.json"

    def get(self, key: str, build: str) -> dict | None:
        """The entry stored under ``key`` for ``build``; None where there is none, with one
        warning where the file cannot be read or was written on another CPU, or the entry
        is another build's."""
        plans, problem = self._load()
        entry = plans.get(key)
        if entry is not None and entry.get("build") != build:
            problem, entry = f"holds {key!r} for another build of the kernels", None
        if problem:
            warnings.warn(f"engine plan cache {self.path} {problem}: ignored, measuring afresh",
                          PlanCacheWarning, stacklevel=3)
        return entry

    def entries(self) -> dict[str, dict]:
        """Every entry stored for this CPU (any build), by key; {} where the file cannot be
        read or is another CPU's."""
        return self._load()[0]

    def put(self, key: str, build: str, entry: dict) -> None:
        """Store ``entry`` under ``key`` for ``build`` (atomically: a temporary file, then a
        rename), keeping this CPU's other entries and dropping a file of another CPU."""
        plans = dict(self._load()[0], **{key: {"build": build, **entry}})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": FILE_FORMAT, "cpu": cbuild.cpu_model(), "plans": plans}, f,
                          indent=1)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _load(self) -> tuple[dict[str, dict], str]:
        """The file's entries for this CPU and, where it has none to give, why not ("": no
        file, or it has them)."""
        if not self.path.exists():
            return {}, ""
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("plans"), dict):
                raise ValueError("not a plan file")
        except (OSError, ValueError) as e:
            return {}, f"is unreadable ({type(e).__name__}: {str(e)[:80]})"
        if data.get("format") != FILE_FORMAT:
            return {}, f"was written in another format ({data.get('format')})"
        if data.get("cpu") != cbuild.cpu_model():
            return {}, f"was written on another CPU ({data.get('cpu')})"
        return {k: v for k, v in data["plans"].items() if isinstance(v, dict)}, ""
