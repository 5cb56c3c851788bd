"""The engine's C matrix kernel: exact products on every block shape, the same logits as the
forward with and without it."""

import ctypes

import numpy as np
import pytest
import torch

from wavedil import WaveNet, WaveNetConfig, generate
from wavedil.engines import make_engine, native, resolve_kernel

KERNEL = native.load()
needs_cc = pytest.mark.skipif(not KERNEL.available, reason=KERNEL.status)


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
    fn = GEMM(KERNEL.gemm_packed if packed else KERNEL.gemm)
    fn(M, N, K, A.ctypes.data, K + 3, B.ctypes.data, N + 5, C.ctypes.data, N + 2)
    assert np.abs(C - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert (C[:, N:] == want[:, N:]).all()  # nothing written past N


@pytest.mark.parametrize("batch", [1, 7, 13])
@pytest.mark.parametrize("kernel", ["c", "numba"])
def test_engine_logits_with_and_without_the_kernel(batch, kernel):
    """Widths of 16 and more and 7 or 13 streams reach the 6x16 and 4x16 blocks."""
    if kernel == "c" and not KERNEL.available:
        pytest.skip(KERNEL.status)
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers=4, cycle_length=2, kernel_size=3, residual_channels=16,
                                  gate_channels=48, skip_channels=32, head="categorical",
                                  classes=40)).eval()
    T = 30
    v = torch.randint(0, 40, (batch, T))
    with torch.no_grad():
        full = model(v)
    eng = make_engine("numba", model, batch, kernel=kernel)
    assert eng.kernel.available == (kernel == "c")
    eng.set_input(v[:, 0])
    logits = eng.force(torch.cat([v[:, 1:], v[:, :1]], 1))
    assert (logits.permute(1, 2, 0) - full).abs().max() <= 1e-5


def test_an_unavailable_kernel_says_why(tmp_path):
    missing = native.load(str(tmp_path / "no-such-cc"), tmp_path)
    assert not missing.available and missing.gemm == 0
    assert "no-such-cc" in missing.status and missing.status.startswith("numba loops")
    with pytest.raises(ValueError, match=r"kernel='c': the C kernel is unavailable: .*no-such-cc"):
        resolve_kernel("c", "numba", missing)
    assert resolve_kernel("auto", "numba", missing) is missing
    assert not resolve_kernel("numba", "numba").available
    with pytest.raises(ValueError, match="kernel must be one of auto, c, numba; got 'fortran'"):
        generate(WaveNet(WaveNetConfig(layers=2, residual_channels=4, gate_channels=4,
                                       skip_channels=4)), 8, kernel="fortran")
    with pytest.raises(ValueError, match="torch engine"):
        resolve_kernel("c", "torch")
    assert resolve_kernel("auto", "torch") is None
    # the engine given an unavailable kernel runs numba's loops, with the same samples
    model = WaveNet(WaveNetConfig(layers=3, residual_channels=16, gate_channels=32,
                                  skip_channels=16, classes=32)).eval()
    runs = [generate(model, 50, 2, generator=torch.Generator().manual_seed(0), engine="numba",
                     kernel=k) for k in (missing, "auto")]
    assert (runs[0] - runs[1]).abs().max() <= 1e-4
