"""Receptive fields, dilation schedules and gridding analysis: small pure functions.

Notation follows the dilated-convolution literature. A layer with kernel size ``k`` and
dilation ``d`` has the effective kernel

    k_eff = k + (k - 1) * (d - 1)

and a stack grows its receptive field layer by layer as

    RF_l = RF_{l-1} + (k_eff_l - 1) * prod(strides of layers before l),   RF_0 = 1.

For a causal layer the taps sit at offsets 0, d, 2d, ..., (k-1)d into the past:

    time ->        t-3d   t-2d   t-d    t
    taps (k=4)      *      *      *     *     output at t

The gridding effect (Yu and Koltun 2016; Wang et al. 2018) is the pattern of input offsets
that reach one output through a stack: with equal dilations > 1 whole residue classes are
never read. ``gridding`` counts the paths from every offset in the receptive field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from typing import Sequence


def _as_list(value: int | Sequence[int], n: int, name: str) -> list[int]:
    if isinstance(value, int):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but there are {n} layers")
    return values


def _check_stack(kernel_sizes: list[int], dilations: list[int], strides: list[int]) -> None:
    for i, (k, d, s) in enumerate(zip(kernel_sizes, dilations, strides)):
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"kernel size must be an integer >= 1, got {k!r} at layer {i}")
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"dilation must be an integer >= 1, got {d!r} at layer {i}")
        if not isinstance(s, int) or s < 1:
            raise ValueError(f"stride must be an integer >= 1, got {s!r} at layer {i}")


def effective_kernel(kernel_size: int, dilation: int) -> int:
    """Span in samples of one dilated kernel: ``k + (k - 1)(d - 1)``."""
    _check_stack([kernel_size], [dilation], [1])
    return kernel_size + (kernel_size - 1) * (dilation - 1)


def layer_receptive_fields(
    kernel_size: int | Sequence[int],
    dilations: Sequence[int],
    strides: int | Sequence[int] = 1,
) -> list[int]:
    """Receptive field in input samples after each layer of a stack.

    >>> layer_receptive_fields(3, [1, 2, 4])
    [3, 7, 15]
    """
    dilations = list(dilations)
    if not dilations:
        raise ValueError("dilations must name at least one layer")
    ks = _as_list(kernel_size, len(dilations), "kernel_size")
    ss = _as_list(strides, len(dilations), "strides")
    _check_stack(ks, dilations, ss)
    fields, rf, jump = [], 1, 1
    for k, d, s in zip(ks, dilations, ss):
        rf += (effective_kernel(k, d) - 1) * jump
        jump *= s
        fields.append(rf)
    return fields


def receptive_field(
    kernel_size: int | Sequence[int],
    dilations: Sequence[int],
    strides: int | Sequence[int] = 1,
) -> int:
    """Receptive field in samples of a whole stack of dilated convolutions.

    >>> receptive_field(2, [2**i for i in range(10)])
    1024
    """
    return layer_receptive_fields(kernel_size, dilations, strides)[-1]


# -- dilation schedules ---------------------------------------------------------------------


def wavenet_dilations(cycles: int = 1, max_dilation: int = 512) -> list[int]:
    """The WaveNet cycle 1, 2, 4, ..., ``max_dilation`` repeated ``cycles`` times."""
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    if max_dilation < 1 or max_dilation & (max_dilation - 1):
        raise ValueError(f"max_dilation must be a power of two >= 1, got {max_dilation}")
    cycle = [2**i for i in range(max_dilation.bit_length())]
    return cycle * cycles


def layered_dilations(layers: int, cycle_length: int = 10) -> list[int]:
    """``layers`` dilations ``2 ** (i % cycle_length)``: r9y9's ``layers``/``stacks`` form."""
    if layers < 1 or cycle_length < 1:
        raise ValueError(f"layers and cycle_length must be >= 1, got {layers} and {cycle_length}")
    return [2 ** (i % cycle_length) for i in range(layers)]


def sawtooth_dilations(rates: Sequence[int] = (1, 2, 5), repeats: int = 1) -> list[int]:
    """A hybrid (sawtooth) schedule: ``rates`` repeated, e.g. 1, 2, 5, 1, 2, 5 (Wang et al. 2018)."""
    rates = list(rates)
    if not rates or any(not isinstance(r, int) or r < 1 for r in rates):
        raise ValueError(f"rates must be integers >= 1, got {rates}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    return rates * repeats


# -- gridding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GriddingReport:
    """How the inputs in a stack's receptive field reach one output."""

    paths: list[int]
    """Number of distinct paths from each input offset (0 = the output's own time step,
    counting into the past for a causal stack) to the output."""
    holes: list[int]
    """Offsets inside the receptive field that no path reaches."""
    coverage: float
    """Fraction of offsets in the receptive field that are reached."""
    hdc_ok: bool
    """Whether the rates satisfy the hybrid dilated convolution condition."""
    hdc_m2: int | None
    """M_2 of the HDC recursion over one repeating group (None for a single layer)."""

    @property
    def receptive_field(self) -> int:
        return len(self.paths)


def path_counts(kernel_size: int | Sequence[int], dilations: Sequence[int]) -> list[int]:
    """Paths from each input offset to one output, by convolving the tap patterns."""
    dilations = list(dilations)
    ks = _as_list(kernel_size, len(dilations), "kernel_size")
    _check_stack(ks, dilations, [1] * len(dilations))
    counts = [1]
    for k, d in zip(ks, dilations):
        new = [0] * (len(counts) + (k - 1) * d)
        for i, c in enumerate(counts):
            if c:
                for j in range(k):
                    new[i + j * d] += c
        counts = new
    return counts


def hdc_m2(dilations: Sequence[int]) -> int | None:
    """M_2 of Wang et al.'s recursion M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i),
    M_n = r_n; None for fewer than two layers."""
    rates = list(dilations)
    if len(rates) < 2:
        return None
    m = rates[-1]
    for r in reversed(rates[1:-1]):
        m = max(m - 2 * r, m - 2 * (m - r), r)
    return m


def repeating_group(dilations: Sequence[int]) -> list[int]:
    """The shortest group whose repetition makes up the schedule: 1,2,5,1,2,5 -> 1,2,5."""
    rates = list(dilations)
    n = len(rates)
    for p in range(1, n + 1):
        if n % p == 0 and rates == rates[:p] * (n // p):
            return rates[:p]
    return rates


def hdc_condition(kernel_size: int, dilations: Sequence[int]) -> bool:
    """The hybrid dilated convolution condition: M_2 <= K and the rates share no factor > 1.

    Wang et al. state it for one group of rates; a schedule that repeats a group (two WaveNet
    cycles, a sawtooth) is judged on that group.
    """
    rates = list(dilations)
    _check_stack([kernel_size] * len(rates), rates, [1] * len(rates))
    rates = repeating_group(rates)
    if reduce(math.gcd, rates) > 1:
        return False
    m2 = hdc_m2(rates)
    if m2 is None:  # one layer reads every input only when it is not dilated
        return rates[0] == 1 or kernel_size == 1
    return m2 <= kernel_size


def gridding(kernel_size: int | Sequence[int], dilations: Sequence[int]) -> GriddingReport:
    """Gridding analysis of a stack: path counts, holes, coverage and the HDC condition.

    With several kernel sizes the HDC condition is checked against the largest.
    """
    dilations = list(dilations)
    paths = path_counts(kernel_size, dilations)
    holes = [i for i, c in enumerate(paths) if c == 0]
    k_max = kernel_size if isinstance(kernel_size, int) else max(kernel_size)
    return GriddingReport(
        paths=paths,
        holes=holes,
        coverage=1.0 - len(holes) / len(paths),
        hdc_ok=hdc_condition(k_max, dilations),
        hdc_m2=hdc_m2(repeating_group(dilations)),
    )
