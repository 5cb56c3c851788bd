"""The engine's C matrix kernel: exact products on every block shape, the same logits as the
forward with and without it."""

import ctypes

import numpy as np
import pytest
import torch

from wavedil import WaveNet, WaveNetConfig
from wavedil.engines import native
from wavedil.engines.numba_engine import NumbaEngine

needs_cc = pytest.mark.skipif(native.gemm_address() == 0, reason=native.status())


GEMM = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 3, ctypes.c_void_p, ctypes.c_int64,
                        ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)


@needs_cc
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("M", [1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 16])
@pytest.mark.parametrize("N,K", [(16, 64), (128, 64), (40, 7), (3, 300), (80, 600)])
def test_gemm_matches_numpy(packed, M, N, K):
    """C += A @ B with leading dimensions larger than the widths: every block and tail, K
    longer than a K block, and B plain or packed in panels."""
    if packed and N % native.PANEL:
        pytest.skip("packed B needs N a multiple of the panel width")
    rng = np.random.default_rng(M * 1000 + N + K)
    A = rng.standard_normal((M, K + 3)).astype(np.float32)
    B = rng.standard_normal((K, N + 5)).astype(np.float32)
    C = rng.standard_normal((M, N + 2)).astype(np.float32)
    want = C.copy()
    want[:, :N] += A[:, :K].astype(np.float64) @ B[:, :N].astype(np.float64)
    if packed:
        B = native.pack(np.ascontiguousarray(B[:, :N]))
    fn = GEMM(native.gemm_address(packed))
    fn(M, N, K, A.ctypes.data, K + 3, B.ctypes.data, N + 5, C.ctypes.data, N + 2)
    assert np.abs(C - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert (C[:, N:] == want[:, N:]).all()  # nothing written past N


@pytest.mark.parametrize("batch", [1, 7, 13])
@pytest.mark.parametrize("use_c", [True, False])
def test_engine_logits_with_and_without_the_kernel(batch, use_c):
    """Widths of 16 and more and 7 or 13 streams reach the 6x16 and 4x16 blocks."""
    if use_c and native.gemm_address() == 0:
        pytest.skip(native.status())
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers=4, cycle_length=2, kernel_size=3, residual_channels=16,
                                  gate_channels=48, skip_channels=32, head="categorical",
                                  classes=40)).eval()
    T = 30
    v = torch.randint(0, 40, (batch, T))
    with torch.no_grad():
        full = model(v)
    eng = NumbaEngine(model, batch, use_c=use_c)
    eng.set_input(v[:, 0])
    _, logits = eng.run(T, forced=torch.cat([v[:, 1:], v[:, :1]], 1), return_logits=True)
    assert (logits.permute(1, 2, 0) - full).abs().max() <= 1e-5


def test_status_names_the_reason_when_disabled(monkeypatch):
    monkeypatch.setattr(native, "_address", None)
    monkeypatch.setenv("WAVEDIL_NATIVE", "0")
    assert native.gemm_address() == 0
    assert "WAVEDIL_NATIVE=0" in native.status()
    monkeypatch.setattr(native, "_address", None)
    monkeypatch.delenv("WAVEDIL_NATIVE")
