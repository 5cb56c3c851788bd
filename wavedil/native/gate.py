"""The chunked training pass's gated activation in C (``gate.c``), forward and backward, for
float32 pieces; :func:`load` returns the kernel, or an ``Unavailable`` (false in a condition)
that says why it does not build (no C compiler), and the pass then does the same work with
torch's element-wise operations.

The calls go through ctypes, which releases the GIL, so the pass's worker threads run them
side by side; each call is one pass over a piece of a stream's rows (a few thousand rows), so
the call's own cost (a few microseconds) is small beside it.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch

from . import build as cbuild

SOURCE = Path(__file__).with_name("gate.c")


class GateKernel:
    """The built ``gate.c``: :meth:`forward` and :meth:`backward` on contiguous float32 rows."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library  # held while the functions are in use
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        self._forward = library.wd_gate_forward
        self._forward.argtypes = [i64, i64, ptr, ptr, ptr, i64, ptr, i64]
        self._forward.restype = None
        self._backward = library.wd_gate_backward
        self._backward.argtypes = [i64, i64, ptr, ptr, i64, ptr, ptr]
        self._backward.restype = None
        self._forward_bf16 = library.wd_gate_forward_bf16
        self._forward_bf16.argtypes = [i64, i64, ptr, i64, ptr, ptr, i64, ptr, i64]
        self._forward_bf16.restype = None
        self._backward_bf16 = library.wd_gate_backward_bf16
        self._backward_bf16.argtypes = [i64, i64, ptr, ptr, i64, ptr, i64, ptr]
        self._backward_bf16.restype = None

    def forward(self, pre: torch.Tensor, bias: torch.Tensor, z: torch.Tensor,
                ds: torch.Tensor) -> None:
        """pre (rows, 2H) contiguous, bias (2H,) -> z (rows, H) = tanh(a) sigmoid(b) and
        ds (rows, 2H) = [s (1 - t^2) | z (1 - s)], a and b the halves of pre + bias; z and
        ds may be row slices of larger tensors (unit column stride)."""
        rows, G = pre.shape
        cbuild.check_rows("gate kernel", (pre, bias, z, ds))
        self._forward(rows, G // 2, pre.data_ptr(), bias.data_ptr(), z.data_ptr(), z.stride(0),
                      ds.data_ptr(), ds.stride(0))

    def backward(self, ds: torch.Tensor, dz: torch.Tensor, dp: torch.Tensor,
                 colsum: torch.Tensor) -> None:
        """ds (rows, 2H) from :meth:`forward`, dz (rows, H) -> dp (rows, 2H) = ds * [dz | dz]
        (the gradient of pre), its column sums added into colsum (2H,)."""
        rows, G = ds.shape
        cbuild.check_rows("gate kernel", (ds, dz, dp, colsum))
        self._backward(rows, G // 2, ds.data_ptr(), dz.data_ptr(), dz.stride(0), dp.data_ptr(),
                       colsum.data_ptr())

    def forward_bf16(self, pre: torch.Tensor, bias: torch.Tensor, z: torch.Tensor,
                     ds: torch.Tensor) -> None:
        """:meth:`forward` for the bfloat16 pass: pre (rows, 2H) and z (rows, H) bfloat16 (pre
        the products' result, z rounded to nearest for the next products), bias and ds float32;
        every argument rows with unit column stride."""
        rows, G = pre.shape
        cbuild.check_rows("gate kernel", (pre, z), dtype="bfloat16")
        cbuild.check_rows("gate kernel", (bias, ds))
        self._forward_bf16(rows, G // 2, pre.data_ptr(), pre.stride(0), bias.data_ptr(),
                           z.data_ptr(), z.stride(0), ds.data_ptr(), ds.stride(0))

    def backward_bf16(self, ds: torch.Tensor, dz: torch.Tensor, dp: torch.Tensor,
                      colsum: torch.Tensor) -> None:
        """:meth:`backward` for the bfloat16 pass: dz and dp bfloat16 (dp rounded to nearest
        from the float32 products, whose column sums go into colsum), ds and colsum float32."""
        rows, G = ds.shape
        cbuild.check_rows("gate kernel", (dz, dp), dtype="bfloat16")
        cbuild.check_rows("gate kernel", (ds, colsum), whole=True)
        self._backward_bf16(rows, G // 2, ds.data_ptr(), dz.data_ptr(), dz.stride(0),
                            dp.data_ptr(), dp.stride(0), colsum.data_ptr())


@functools.cache
def load() -> GateKernel | cbuild.Unavailable:
    """The kernel, built on first use (cached per machine by ``build``), or why there is none."""
    loaded = cbuild.load_library(SOURCE)
    return loaded if isinstance(loaded, cbuild.Unavailable) else GateKernel(loaded[0])
