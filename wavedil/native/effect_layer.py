"""One layer of the effect training pass in C (``effect_layer.c``): the forward, and the
backward's three passes (the pre-activation's gradient, the weights', the input's), over one
stream's rows padded to a multiple of 8 columns. :func:`load` returns the kernel, or an
``Unavailable`` (false in a condition) that says why it does not build (no C compiler), and the
pass then does the same work with torch's operations.

The calls go through ctypes, which releases the GIL, so the pass's worker threads run them side
by side; each call is one pass over a stream's rows (thousands), so its own cost (a few
microseconds) is small beside it.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch

from . import build as cbuild

SOURCE = Path(__file__).with_name("effect_layer.c")

ACTIVATION_CODES = {"tanh": 0, "relu": 1, "leaky_relu": 2}
"""The activations the kernel runs, by the code it takes."""

LANES = 8
"""Columns of the kernel's vectors: its rows are padded to a multiple of this."""


class EffectLayerKernel:
    """The built ``effect_layer.c`` on contiguous float32 rows of Cp columns (Cp a multiple of
    :data:`LANES`); matrices (Cp, Cp) for rows @ W, taps stacked (K, Cp, Cp)."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library  # held while the functions are in use
        i64, ptr, f32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_float
        self._forward = library.wd_effect_layer_forward
        self._forward.argtypes = [i64, i64, i64, i64, i64, ptr, ptr, i64, ptr, ptr, ptr, ptr,
                                  ptr, i64, f32, ptr, ptr, ptr]
        self._forward.restype = None
        self._pre = library.wd_effect_layer_backward_pre
        self._pre.argtypes = [i64, i64, ptr, ptr, ptr, ptr, i64, f32, ptr, ptr, ptr]
        self._pre.restype = None
        self._weights = library.wd_effect_layer_backward_weights
        self._weights.argtypes = [i64, i64, i64, i64, i64, ptr, ptr, i64, ptr, ptr, ptr, ptr,
                                  ptr, ptr]
        self._weights.restype = None
        self._input = library.wd_effect_layer_backward_input
        self._input.argtypes = [i64, i64, i64, i64, ptr, ptr, ptr]
        self._input.restype = None

    def forward(self, h: torch.Tensor, c: torch.Tensor, taps: torch.Tensor, b: torch.Tensor,
                wm: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, dilation: int,
                act: tuple[str, float], a: torch.Tensor, s: torch.Tensor,
                out: torch.Tensor) -> None:
        """h (T, Cp) the layer's input, c (T, P1) the mixer's input -> a (T, Cp) = act(b +
        c @ wm + sum_k h[t - lag_k] @ taps[k]), added into s (T, Cp); out (T, Cp) = h + b1 +
        a @ w1."""
        T, Cp = h.shape
        _check(Cp, h, c, taps, b, wm, w1, b1, a, s, out)
        name, slope = act
        self._forward(T, Cp, c.shape[1], taps.shape[0], dilation, h.data_ptr(), c.data_ptr(),
                      c.stride(0), taps.data_ptr(), b.data_ptr(), wm.data_ptr(), w1.data_ptr(),
                      b1.data_ptr(), ACTIVATION_CODES[name], slope, a.data_ptr(), s.data_ptr(),
                      out.data_ptr())

    def backward_pre(self, gs: torch.Tensor, gh: torch.Tensor, a: torch.Tensor,
                     w1t: torch.Tensor, act: tuple[str, float], gpre: torch.Tensor,
                     gb: torch.Tensor, gb1: torch.Tensor) -> None:
        """gs (T, Cp) the head sum's gradient, gh (T, Cp) the output's, a the forward's
        activation, w1t = w1^T -> gpre (T, Cp) = (gs + gh @ w1t) act'(a); gpre's column sums
        added into gb (Cp,), gh's into gb1 (Cp,)."""
        T, Cp = gs.shape
        _check(Cp, gs, gh, a, w1t, gpre, gb, gb1)
        name, slope = act
        self._pre(T, Cp, gs.data_ptr(), gh.data_ptr(), a.data_ptr(), w1t.data_ptr(),
                  ACTIVATION_CODES[name], slope, gpre.data_ptr(), gb.data_ptr(), gb1.data_ptr())

    def backward_weights(self, h: torch.Tensor, c: torch.Tensor, a: torch.Tensor,
                         gh: torch.Tensor, gpre: torch.Tensor, dilation: int,
                         gtaps: torch.Tensor, gwm: torch.Tensor, gw1: torch.Tensor) -> None:
        """The weights' gradients of the layer whose input, mixer input and activation were h,
        c and a, given gh (its output's gradient) and gpre (its pre-activation's), added into
        gtaps (K, Cp, Cp) (tap k: h[t - lag_k]^T gpre[t] summed over the rows), gwm (P1, Cp)
        (c^T gpre) and gw1 (Cp, Cp) (a^T gh)."""
        T, Cp = h.shape
        _check(Cp, h, c, a, gh, gpre, gtaps, gwm, gw1)
        self._weights(T, Cp, c.shape[1], gtaps.shape[0], dilation, h.data_ptr(), c.data_ptr(),
                      c.stride(0), a.data_ptr(), gh.data_ptr(), gpre.data_ptr(),
                      gtaps.data_ptr(), gwm.data_ptr(), gw1.data_ptr())

    def backward_input(self, gpre: torch.Tensor, tapst: torch.Tensor, dilation: int,
                       gh: torch.Tensor) -> None:
        """gh (T, Cp) += sum_k gpre[t + lag_k] @ tapst[k] (tapst: each tap transposed), in
        place: the output's gradient becomes the input's."""
        T, Cp = gpre.shape
        _check(Cp, gpre, tapst, gh)
        self._input(T, Cp, tapst.shape[0], dilation, gpre.data_ptr(), tapst.data_ptr(),
                    gh.data_ptr())


def _check(Cp: int, *tensors: torch.Tensor) -> None:
    # what the C loops assume; the pass only hands them such tensors
    if Cp % LANES:
        raise ValueError(f"effect layer kernel: rows of a multiple of {LANES} columns "
                         f"expected, got {Cp}")
    cbuild.check_rows("effect layer kernel", tensors, whole=True)


@functools.cache
def load() -> EffectLayerKernel | cbuild.Unavailable:
    """The kernel, built on first use (cached per machine by ``build``), or why there is none."""
    loaded = cbuild.load_library(SOURCE)
    return loaded if isinstance(loaded, cbuild.Unavailable) else EffectLayerKernel(loaded[0])
