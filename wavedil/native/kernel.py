"""The numba engine's C kernels behind one object: ``gemm.c``'s matrix products, ``stack.c``'s
layer loop (and its two-thread form for a single stream), ``sampler.c``'s categorical
draw and ``rows.c``'s element-wise passes of the effect engine. :func:`load` returns a
:class:`Kernel` or an :class:`Unavailable` that says why, and the engine is handed it.

The numba engine calls them through their addresses, so numba's on-disk cache of the engine
stays valid from one process to the next. The library is compiled with the system C
compiler by ``build.py`` (``cc -O3 -march=native``; about 0.3 s here, cached per
machine). Without a compiler, or with ``kernel="numba"``, the engine uses its own numba
loops: the same results, slower.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import build as cbuild
from .build import find_compiler

SOURCES = tuple(Path(__file__).with_name(name) for name in ("gemm.c", "stack.c", "sampler.c",
                                                                    "rows.c"))
PANEL = 16
"""Columns per panel of ``wd_gemm_packed``'s B operand."""


@dataclass(frozen=True)
class Kernel:
    """The built C kernel: the addresses the numba engine calls, and what it can do."""

    gemm: int
    """Address of ``wd_gemm``: C += A @ B on row-major operands with leading dimensions."""
    gemm_packed: int
    """Address of ``wd_gemm_packed``, whose B operand is laid out by :func:`pack`."""
    gemm_packed_bf16: int
    """Address of ``wd_gemm_packed_bf16``: the same with B in bfloat16 (:func:`to_bf16`)."""
    gemm_packed_dot: int
    """Address of ``wd_gemm_packed_dot``: the same with A rounded to bfloat16 too (weights=
    "bf16-dot"), B laid out by :func:`pack_pairs` where ``dot_native``, else by
    :func:`pack_bf16`."""
    stack: int
    """Address of ``wd_stack_step`` (stack.c): a generation step's layer loop, with these
    products, for the numba engine (0: the engine runs its own)."""
    sampler: int
    """Address of ``wd_categorical`` (sampler.c): the categorical head's draw."""
    pair: int
    """Address of ``wd_pair_step`` (stack.c): a batch-1 step shared by two threads."""
    pair_join: int
    """Address of ``wd_pair_join`` (stack.c): the two threads meeting at a chunk's start."""
    gemm_narrow: int
    """Address of ``wd_gemm_narrow``: the first n < 16 columns of ``wd_gemm``'s product, each
    summed as ``wd_gemm`` sums it inside a 16-column block, from A and A transposed."""
    gemm_taps: int
    """Address of ``wd_gemm_taps``: a dilated convolution's taps as one product, equal bit for
    bit to ``wd_gemm`` called tap by tap."""
    rows_affine: int
    """Address of ``wd_rows_affine`` (rows.c): rows of bias + scale * x (the effect engine)."""
    rows_bias: int
    """Address of ``wd_rows_bias`` (rows.c): rows plus a bias per row."""
    rows_add: int
    """Address of ``wd_rows_add`` (rows.c): one array added into another."""
    rows_act: int
    """Address of ``wd_rows_act`` (rows.c): tanh, relu or leaky relu of rows."""
    compiler: str
    dot_native: bool
    """Whether ``wd_gemm_packed_dot`` multiplies with the CPU's bfloat16 dot product
    (AVX512-BF16); else with ``wd_gemm_packed_bf16``'s float32 FMAs on the same values."""
    library: ctypes.CDLL = field(repr=False, compare=False)
    """Holds the shared library loaded while the addresses are in use."""
    available: ClassVar[bool] = True

    @property
    def packed(self) -> bool:
        """Whether weights packed in PANEL-column panels can be multiplied."""
        return self.gemm_packed != 0

    @property
    def compact(self) -> bool:
        """Whether packed weights held in bfloat16 can be multiplied."""
        return self.gemm_packed_bf16 != 0

    @property
    def build(self) -> str:
        """The build's key (its folder under ``build.cache_root``): sources, compiler, flags
        and CPU features."""
        return Path(self.library._name).parent.name

    @property
    def status(self) -> str:
        return (f"C kernel built with {self.compiler}" + (", packed panels" if self.packed else "")
                + (", bfloat16 dot products" if self.dot_native else ""))


@dataclass(frozen=True)
class Unavailable(cbuild.Unavailable):
    """No C kernel: the engine does its products with numba's loops."""

    gemm: ClassVar[int] = 0
    gemm_packed: ClassVar[int] = 0
    gemm_packed_bf16: ClassVar[int] = 0
    gemm_packed_dot: ClassVar[int] = 0
    dot_native: ClassVar[bool] = False
    stack: ClassVar[int] = 0
    sampler: ClassVar[int] = 0
    pair: ClassVar[int] = 0
    pair_join: ClassVar[int] = 0
    gemm_narrow: ClassVar[int] = 0
    gemm_taps: ClassVar[int] = 0
    rows_affine: ClassVar[int] = 0
    rows_bias: ClassVar[int] = 0
    rows_add: ClassVar[int] = 0
    rows_act: ClassVar[int] = 0
    packed: ClassVar[bool] = False
    compact: ClassVar[bool] = False
    build: ClassVar[str] = "none"

    @property
    def status(self) -> str:
        return f"numba loops ({self.reason})"


def build(cc: str, root: Path | None = None) -> Path:
    """Compile :data:`SOURCES` into one library (or find it compiled) under
    ``root`` (default: ``build.cache_root``) and return the shared library's path."""
    return cbuild.build(cc, SOURCES, root)


@functools.cache
def load(compiler: str | None = None, root: Path | None = None) -> Kernel | Unavailable:
    """The C kernel built with ``compiler`` (default ``build.find_compiler``) under ``root``
    (default ``build.cache_root``), building it on first use; once per process for each."""
    loaded = cbuild.load_library(SOURCES, compiler, root)
    if isinstance(loaded, cbuild.Unavailable):
        return Unavailable(loaded.reason)
    return kernel(*loaded)


def kernel(lib: ctypes.CDLL, compiler: str) -> Kernel:
    """The :class:`Kernel` of a library built from :data:`SOURCES` (by :func:`build`, or by
    other flags: the tests build one without AVX512-BF16)."""
    functions = (lib.wd_gemm, lib.wd_gemm_packed, lib.wd_gemm_packed_bf16, lib.wd_gemm_packed_dot,
                 lib.wd_stack_step, lib.wd_categorical, lib.wd_pair_step, lib.wd_pair_join,
                 lib.wd_gemm_narrow, lib.wd_gemm_taps, lib.wd_rows_affine,
                 lib.wd_rows_bias, lib.wd_rows_add, lib.wd_rows_act)
    lib.wd_gemm_dot_native.restype = ctypes.c_int64
    return Kernel(*(ctypes.cast(f, ctypes.c_void_p).value or 0 for f in functions), compiler,
                  bool(lib.wd_gemm_dot_native()), lib)


def to_bf16(w: np.ndarray) -> np.ndarray:
    """float32 values -> their bfloat16 bit patterns (uint16, same shape), rounded to nearest,
    ties to even, as torch's conversion rounds; exact for values that are already bfloat16."""
    bits = np.ascontiguousarray(w, np.float32).view(np.uint32)
    rounded = (bits >> 16) & 1  # in 32 bits, in place: a tenth of the time of 64-bit temporaries
    rounded += 0x7FFF
    rounded += bits  # wraps only above 0xFFFF8000 (NaNs), to the 16 bits a carry would leave
    rounded >>= 16
    return rounded.astype(np.uint16)


def from_bf16(h: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32 values."""
    return (np.ascontiguousarray(h, np.uint16).astype(np.uint32) << 16).view(np.float32)


def pack_bf16(h: np.ndarray) -> np.ndarray:
    """bfloat16 matrices (..., K, N) (uint16, :func:`to_bf16`), N a multiple of PANEL, stored
    for ``wd_gemm_packed_bf16``: :func:`pack`'s panels with each row of 16 interleaved, columns
    0, 8, 1, 9, ..., 7, 15, so that 32-bit word j holds columns j and j + 8."""
    panels = pack(h)
    half = PANEL // 2
    rows = panels.reshape(-1, 2, half).swapaxes(-1, -2)  # (rows, 8, 2): word j = (j, j + 8)
    return np.ascontiguousarray(rows).reshape(h.shape)


def pack_pairs(h: np.ndarray) -> np.ndarray:
    """bfloat16 matrices (..., K, N) (uint16, :func:`to_bf16`), K even and N a multiple of
    PANEL, stored for ``wd_gemm_packed_dot``: :func:`pack`'s panels, each as K / 2 rows of
    PANEL 32-bit words, word j of pair row i holding column j of rows 2i (low half) and
    2i + 1 (high half)."""
    *lead, K, N = h.shape
    if K % 2:
        raise ValueError(f"pack_pairs: K={K} is not even")
    panels = pack(h).reshape(*lead, N // PANEL, K // 2, 2, PANEL).swapaxes(-1, -2)
    return np.ascontiguousarray(panels).reshape(h.shape)


def pack(w: np.ndarray) -> np.ndarray:
    """Matrices (..., K, N), N a multiple of PANEL, stored for ``wd_gemm_packed``: each
    matrix keeps its place and size, its columns regrouped into contiguous (K, PANEL) panels."""
    *lead, K, N = w.shape
    if N % PANEL:
        raise ValueError(f"pack: N={N} is not a multiple of {PANEL}")
    panels = w.reshape(*lead, K, N // PANEL, PANEL).swapaxes(-3, -2)
    return np.ascontiguousarray(panels).reshape(w.shape)
