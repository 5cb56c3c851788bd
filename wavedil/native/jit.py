"""numba's side of the package's C kernels, shared by both compiled engines (the WaveNet's
``wavenet/engines/numba_kernels.py`` and the effect's ``effect/kernels.py``): a call of a C
function by its address (so numba's on-disk cache stays valid from one process to the next),
the matrix product through the C kernel or numba's own loops, and a float32 tanh that
vectorises."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def tanh_f32(x):
    """float32 tanh as a rational function (Eigen's fast tanh): |error| < 3e-7, and unlike
    libm's tanh it vectorises."""
    c = np.float32(7.90531110763549805)
    x = x if x < c else c
    x = x if x > -c else -c
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return x * p / q


@intrinsic
def call_c(typingctx, fn, args):
    """Call the C function at address ``fn`` with the tuple ``args``: a void function whose
    parameters are, in order, int64 for each integer or boolean of ``args``, double for each
    float, and a pointer to the first element for each array (a view's own first element:
    ``a[off:]`` passes a + off)."""
    if not isinstance(fn, types.Integer) or not isinstance(args, types.BaseTuple):
        return None
    if not all(isinstance(t, (types.Integer, types.Boolean, types.Float, types.Array))
               for t in args):
        return None
    sig = types.void(fn, args)

    def codegen(context, builder, signature, call_args):
        i64, f64, ptr = ir.IntType(64), ir.DoubleType(), ir.IntType(8).as_pointer()
        values, kinds = [], []
        for index, t in enumerate(signature.args[1]):
            v = builder.extract_value(call_args[1], index)
            if isinstance(t, types.Array):
                values.append(builder.bitcast(context.make_array(t)(context, builder, v).data, ptr))
                kinds.append(ptr)
            elif isinstance(t, types.Float):
                values.append(context.cast(builder, v, t, types.float64))
                kinds.append(f64)
            else:
                values.append(context.cast(builder, v, t, types.int64))
                kinds.append(i64)
        address = context.cast(builder, call_args[0], signature.args[0], types.int64)
        func = builder.inttoptr(address, ir.FunctionType(ir.VoidType(), kinds).as_pointer())
        builder.call(func, values)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, error_model="numpy", inline="always")
def to_bf16_rows(M, K, a, a_off, lda):
    """a's M rows of K values from a_off (leading dimension lda), each rounded to the nearest
    bfloat16 (ties to even, as ``native.to_bf16``), as a new flat (M * K,) float32 array."""
    out = np.empty(M * K, np.float32)
    for m in range(M):
        out[m * K:(m + 1) * K] = a[a_off + m * lda:a_off + m * lda + K]
    bits = out.view(np.uint32)
    for i in range(M * K):
        u = np.uint32(bits[i])
        bits[i] = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
                   >> np.uint32(16)) << np.uint32(16)
    return out


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def gemm_loops(M, N, K, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, rnd):
    """c[m, n] += sum_k a[m, k] * b[k, n] on flat row-major float32 operands with offsets and
    leading dimensions, in numba's loops; ``rnd``: a's values rounded to bfloat16 first."""
    if rnd:
        a, a_off, lda = to_bf16_rows(M, K, a, a_off, lda), 0, K
    for m in range(M):
        crow = c[c_off + m * ldc:c_off + m * ldc + N]
        for k in range(K):
            v = a[a_off + m * lda + k]
            brow = b[b_off + k * ldb:b_off + k * ldb + N]
            for o in range(N):
                crow[o] += v * brow[o]


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def gemm(fn, M, N, K, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    """The same product on float32 operands: by the C kernel at address ``fn``, or by
    :func:`gemm_loops` when ``fn`` is 0."""
    if fn != 0:
        call_c(fn, (M, N, K, a[a_off:], lda, b[b_off:], ldb, c[c_off:], ldc))
        return
    gemm_loops(M, N, K, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, False)
