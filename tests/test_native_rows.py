"""rows.c, the effect engine's element-wise passes: each against numpy, and tanh against
float64 and numba's loops (the engine runs either, the C ones where a compiler is found);
nothing is written outside the columns asked for."""

import ctypes

import numba
import numpy as np
import pytest

from wavedil.effect.kernels import EXACT_DIVISION
from wavedil.native import kernel as native
from wavedil.native.jit import tanh_f32

KERNEL = native.load()
pytestmark = pytest.mark.skipif(not KERNEL.available, reason=KERNEL.status)

i64, ptr = ctypes.c_int64, ctypes.c_void_p
AFFINE = ctypes.CFUNCTYPE(None, i64, i64, i64, ptr, ptr, i64, ptr, ptr, i64)
BIAS = ctypes.CFUNCTYPE(None, i64, i64, ptr, i64, ptr, ptr, i64)
ADD = ctypes.CFUNCTYPE(None, i64, ptr, ptr)
ACT = ctypes.CFUNCTYPE(None, i64, i64, i64, ptr, ptr, i64)


@numba.njit(cache=True, fastmath=EXACT_DIVISION, error_model="numpy")
def _numba_tanh(z):
    """tanh_f32 over an array as the engine's numba loops run it (its activations' flags)"""
    out = np.empty_like(z)
    for i in range(z.size):
        out[i] = tanh_f32(z[i])
    return out


def _p(a: np.ndarray) -> int:
    return a.ctypes.data


@pytest.mark.parametrize("n,N", [(1, 16), (17, 32), (64, 64), (5, 5)])
def test_affine_rows_are_one_rounding_of_bias_plus_scale_times_x(n, N):
    rng = np.random.default_rng(n)
    M, ss, ld = 5, 3, N + 4
    bias = rng.standard_normal(M).astype(np.float32)
    scale = rng.standard_normal(M * ss).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    z = np.full((M, ld), 7.0, np.float32)
    AFFINE(KERNEL.rows_affine)(M, n, N, _p(bias), _p(scale), ss, _p(x), _p(z), ld)
    exact = bias[:, None].astype(np.float64) + scale[::ss, None].astype(np.float64) * x
    assert np.array_equal(z[:, :n], exact.astype(np.float32))  # a fused multiply-add
    assert np.array_equal(z[:, n:N], np.repeat(bias[:, None], N - n, 1))
    assert (z[:, N:] == 7.0).all()


def test_bias_rows_and_the_added_array():
    rng = np.random.default_rng(2)
    M, N, ldh, ldo = 6, 48, 53, 50
    h = rng.standard_normal((M, ldh)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    out = np.full((M, ldo), 3.0, np.float32)
    BIAS(KERNEL.rows_bias)(M, N, _p(h), ldh, _p(b), _p(out), ldo)
    assert np.array_equal(out[:, :N], h[:, :N] + b[:, None]) and (out[:, N:] == 3.0).all()
    a = rng.standard_normal(100).astype(np.float32)
    s = rng.standard_normal(100).astype(np.float32)
    want = s.copy()
    want[:97] += a[:97]
    ADD(KERNEL.rows_add)(97, _p(a), _p(s))
    assert np.array_equal(s, want)


@pytest.mark.parametrize("code", [0, 1, 6])
def test_activations_are_numbas_bit_for_bit(code):
    """tanh (numba's rational tanh_f32: within 4e-7 of tanh, past its clamp too), relu and
    leaky relu, on rows with a vector body and a scalar tail."""
    rng = np.random.default_rng(code)
    C, n, ld = 3, 37, 40
    z = (rng.standard_normal((C, ld)) * 4).astype(np.float32)
    z[0, :4] = [0.0, -0.0, 9.0, -12.0]
    a = np.full((C, ld), 5.0, np.float32)
    ACT(KERNEL.rows_act)(code, C, n, _p(z), _p(a), ld)
    if code == 0:
        exact = np.tanh(z[:, :n].astype(np.float64))
        assert np.abs(a[:, :n] - exact).max() < 4e-7 and (a[:, n:] == 5.0).all()
        # numba's loops compute the same rational function: the same floats inside the clamp
        # (+-7.9053); at it they may differ in the last bits (1 against 1 - 2.4e-7 here)
        inside = np.abs(z[:, :n]) < 7.9
        want = _numba_tanh(z[:, :n].ravel()).reshape(C, n)
        assert np.array_equal(a[:, :n][inside], want[inside])
        return
    if code == 1:
        want = np.where(z[:, :n] > 0, z[:, :n], np.float32(0.0))
    else:
        want = np.where(z[:, :n] > 0, z[:, :n], np.float32(0.01) * z[:, :n])
    assert np.array_equal(a[:, :n], want) and (a[:, n:] == 5.0).all()


def test_other_activation_codes_leave_the_rows_alone():
    z = np.ones((2, 16), np.float32)
    a = np.zeros((2, 16), np.float32)
    ACT(KERNEL.rows_act)(2, 2, 16, _p(z), _p(a), 16)  # sigmoid: numba's loops run it
    assert (a == 0.0).all()
