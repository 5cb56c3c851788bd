"""Compiled kernels of the effect engine (:mod:`wavedil.effect.engine`): a whole
:class:`~wavedil.effect.model.EffectNet` over blocks of samples, in numba, its matrix products by
the C kernel of ``gemm.c`` (a convolution's taps in one pass, ``wd_gemm_taps``) and its
element-wise passes by ``rows.c`` (or numba's loops without them), its tanh the rational one of
the generation engine (and NAM's own rational approximation for fast_tanh layers).

Layout: activations are channel-major, (channels, block) with the block's samples
contiguous, so every product is (out x in) weights @ (in x block) signal and every
element-wise loop runs along time, which vectorises for any width (a nano layer has 2
channels). Each dilated layer keeps its input's past in a linear history of
``R + F + PANEL`` columns per channel (R = (kernel - 1) * dilation, F the free columns):

    columns  0 .. cursor-1 | cursor .. cursor+R-1 | cursor+R .. cursor+R+n-1 | ... R+F-1 | +PANEL
             (stale)       |  the past R samples  |  this block's input        | (free)    | (slack)

so a tap ``k`` reads the contiguous columns starting at ``cursor + k * dilation``. When a
block would run past the end, every layer moves its past R columns to the front and the
shared cursor returns to 0: one copy of R columns per F samples, where a ring buffer would
split every tap's read in two. The C kernel's products run over whole blocks of PANEL columns,
past the block into the free and slack columns (:data:`PANEL`), or (the narrow route,
``run``'s ``narrow``) over the block's whole panels and then its last columns alone by
``wd_gemm_narrow``, which sums each column as the panels do.

The tables (see :class:`~wavedil.effect.engine.EffectEngine` for how they are made):

    layers (L, N_LAYER) int64: C, mid, kernel, dilation, conv weight, conv bias, mixer weight,
        1x1 weight, 1x1 bias offsets into ``w``; history offset in a stream's state; R;
        activation code; gated
    arrays (A, N_ARRAY) int64: input channels, channels, head size, rechannel weight, head
        weight (tap by tap), head bias (-1: none) offsets; first layer; layers; the head
        convolution's taps and dilation, its history's offset and R (0: a 1x1 head, no history)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .model import FAST_TANH
from ..native.jit import call_c as _call_c, gemm as _gemm, tanh_f32 as _tanh

# layer table columns
L_C, L_MID, L_K, L_D, L_WCONV, L_BCONV, L_WMIX, L_W1, L_B1, L_HIST, L_R, L_ACT, L_GATED = range(13)
N_LAYER = 13
# array table columns
A_IN, A_C, A_HEAD, A_WRE, A_WHEAD, A_BHEAD, A_FIRST, A_N, A_HK, A_HD, A_HHIST, A_HR = range(12)
N_ARRAY = 12

ACTIVATION_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2, "hardtanh": 3, "softsign": 4,
                    "silu": 5, "leaky_relu": 6, "fast_tanh": 7}
"""The codes of :data:`wavedil.effect.model.ACTIVATIONS` in the layer table."""


EXACT_DIVISION = {"nnan", "ninf", "nsz", "contract", "reassoc", "afn"}
"""numba's fast-math flags less ``arcp``: with it LLVM divides vectors by a reciprocal estimate
(one Newton step) but scalars exactly, so a loop's vector body and its scalar remainder would
round the activations' quotients differently, and a value would depend on where it stands."""

PANEL = 16
"""Columns of the C kernel's blocks. It sums a column in one order inside its 16-column blocks
and in others at an edge (an 8-column block's two chains, a lone row's groups of four), so the
engine gives it whole blocks: every product runs over the block's columns rounded up to a
multiple of PANEL (the columns past the block are scratch, never read back into it). Then no
value depends on where it stands in a block, the output does not depend on the block size bit
for bit, and a silent input gives an exactly constant output. numba's loops sum every column
in one order already and run over the block's own columns."""


@njit(cache=True, inline="always")
def _stride(R, F):
    """Columns of one channel's history: the past R, F free, PANEL of slack for the scratch
    columns of a block that ends at the last free column."""
    return R + F + PANEL


@njit(cache=True, inline="always")
def _columns(gemm, narrow, n):
    """Columns every product of an n-sample block runs over (the work buffers' row length):
    whole panels for the C kernel, unless its narrow route does the last n % PANEL."""
    return n if gemm == 0 or narrow != 0 else (n + PANEL - 1) // PANEL * PANEL


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _product(gemm, taps, narrow, M, N, K, T, d, w, wt, w_off, b, b_off, ldb, c, c_off, ldc):
    """c[:, :N] += sum over taps t < T of W_t @ b[:, t * d : t * d + N], W_t the (M, K) weight
    matrix at ``w_off + t * M * K`` (row-major; ``wt`` holds it transposed at the same offset):
    by the C kernel's taps product (``taps``, ``wd_gemm_taps``: the taps in one pass, equal bit
    for bit to the tap-by-tap products) over N's whole panels, else tap by tap; where
    ``narrow`` (``wd_gemm_narrow``'s address) N's last N % PANEL columns by the narrow route,
    which sums each as the panels do."""
    full = N if narrow == 0 or gemm == 0 else N - N % PANEL
    if taps != 0 and full > 0:
        _call_c(taps, (M, full, K, T, d, w[w_off:], b[b_off:], ldb, c[c_off:], ldc))
    elif full > 0:
        for t in range(T):
            _gemm(gemm, M, full, K, w, w_off + t * M * K, K, b, b_off + t * d, ldb, c, c_off, ldc)
    if N > full:
        for t in range(T):
            o = w_off + t * M * K
            _call_c(narrow, (M, N - full, K, w[o:], K, wt[o:], b[b_off + t * d + full:], ldb,
                             c[c_off + full:], ldc))


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _sigmoid(x):
    return np.float32(0.5) + np.float32(0.5) * _tanh(np.float32(0.5) * x)


_A, _B, _C, _D, _E = (np.float32(v) for v in FAST_TANH)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _fast_tanh(x):
    """NAM's fast tanh, :func:`wavedil.effect.model.fast_tanh` in float32: inlined into
    :func:`_fast_tanh_rows`, whose plain IEEE arithmetic (no fast-math: no fused or reordered
    operations) rounds every operation as the formula's order says, as torch's does."""
    ax = abs(x)
    x2 = x * x
    return x * (_A + _A * ax + (_B + _C * ax) * x2) / (_D + (_D + x2) * abs(x + _E * x * ax))


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _act(code, x):
    if code == 0:
        return _tanh(x)
    if code == 1:
        return x if x > 0 else np.float32(0.0)
    if code == 2:
        return _sigmoid(x)
    if code == 3:
        return min(max(x, np.float32(-1.0)), np.float32(1.0))
    if code == 4:
        return x / (np.float32(1.0) + abs(x))
    if code == 5:
        return x * _sigmoid(x)
    return x if x > 0 else np.float32(0.01) * x


@njit(cache=True, fastmath=EXACT_DIVISION, error_model="numpy")
def _activate(code, gated, z, a, C, n, ld):
    """a[c, t] = act(z[c, t]), or act(z[c, t]) * sigmoid(z[C + c, t]) when gated, for t < n
    (rows ld apart)."""
    if code == 7:
        _fast_tanh_rows(gated, z, a, C, n, ld)
        return
    for c in range(C):
        zr = z[c * ld:c * ld + n]
        ar = a[c * ld:c * ld + n]
        if gated:
            gr = z[(C + c) * ld:(C + c) * ld + n]
            for t in range(n):
                ar[t] = _act(code, zr[t]) * _sigmoid(gr[t])
        elif code == 0:  # the common cases as their own loops, so that they vectorise
            for t in range(n):
                ar[t] = _tanh(zr[t])
        else:
            for t in range(n):
                ar[t] = _act(code, zr[t])


@njit(cache=True, fastmath=False, error_model="numpy")
def _fast_tanh_rows(gated, z, a, C, n, ld):
    """:func:`_activate` for fast_tanh layers, in plain IEEE arithmetic (see
    :func:`_fast_tanh`; fastmath is given, False, because numba gives a function that leaves
    it unset its caller's)."""
    for c in range(C):
        zr = z[c * ld:c * ld + n]
        ar = a[c * ld:c * ld + n]
        if gated:
            gr = z[(C + c) * ld:(C + c) * ld + n]
            for t in range(n):
                ar[t] = _fast_tanh(zr[t]) * _sigmoid(gr[t])
        else:
            for t in range(n):
                ar[t] = _fast_tanh(zr[t])


@njit(cache=True, fastmath=True, error_model="numpy")
def _rewind(layers, arrays, hist, base, cursor, F):
    """Move every layer's (and every head convolution's) past R columns to the front of its
    history."""
    for i in range(layers.shape[0]):
        C, R = layers[i, L_C], layers[i, L_R]
        stride = _stride(R, F)
        for c in range(C):
            row = base + layers[i, L_HIST] + c * stride
            hist[row:row + R] = hist[row + cursor:row + cursor + R].copy()
    for i in range(arrays.shape[0]):
        C, R = arrays[i, A_C], arrays[i, A_HR]
        if R == 0:
            continue
        stride = _stride(R, F)
        for c in range(C):
            row = base + arrays[i, A_HHIST] + c * stride
            hist[row:row + R] = hist[row + cursor:row + cursor + R].copy()


@njit(cache=True, fastmath=True, error_model="numpy")
def _block(gemm, taps, narrow, rows, x, x0, n, y, w, wt, layers, arrays, controls, hist, base,
           cursor, F, head_scale, z, a, s, hout, head, zb):
    """One block of one stream: x[x0:x0+n] -> y[x0:x0+n]; the history columns of this
    block are written at cursor + R (the caller has made room). The work buffers' rows are N
    columns long (:func:`_columns`); columns n .. N-1 are scratch: nothing there is read back
    into the block's own columns, and it is assigned afresh every block, never accumulated
    from block to block, so it stays finite."""
    P = controls.shape[0]
    N = _columns(gemm, narrow, n)
    n_arrays = arrays.shape[0]
    for ai in range(n_arrays):
        C, H, first, count = arrays[ai, A_C], arrays[ai, A_HEAD], arrays[ai, A_FIRST], arrays[ai, A_N]
        # the array's input -> the first layer's history columns of this block
        l0 = first
        stride0 = _stride(layers[l0, L_R], F)
        dst = base + layers[l0, L_HIST] + cursor + layers[l0, L_R]
        wre = arrays[ai, A_WRE]
        if ai == 0:  # rechannel of the input signal (1 -> C)
            for c in range(C):
                wc = w[wre + c]
                row = hist[dst + c * stride0:dst + c * stride0 + n]
                for t in range(n):
                    row[t] = wc * x[x0 + t]
        else:  # rechannel of the previous array's output (C_in -> C)
            cin = arrays[ai, A_IN]
            for c in range(C):
                row = hist[dst + c * stride0:dst + c * stride0 + N]
                row[:] = 0.0
            _product(gemm, taps, narrow, C, N, cin, 1, 0, w, wt, wre, hout, 0, N, hist, dst,
                     stride0)
            # the head sum starts at the previous array's head (already in s)
        for li in range(first, first + count):
            mid, K, d = layers[li, L_MID], layers[li, L_K], layers[li, L_D]
            R = layers[li, L_R]
            stride = _stride(R, F)
            hrow0 = base + layers[li, L_HIST]
            # z = conv bias + mixer(controls) + mixer[:, 0] * x
            wmix, bconv = layers[li, L_WMIX], layers[li, L_BCONV]
            for m in range(mid):
                bias = w[bconv + m]
                for p in range(P):
                    bias += w[wmix + m * (1 + P) + 1 + p] * controls[p]
                zb[m] = bias
            if rows[0] != 0:
                _call_c(rows[0], (mid, n, N, zb, w[wmix:], 1 + P, x[x0:], z, N))
            else:
                for m in range(mid):
                    bias, wx = zb[m], w[wmix + m * (1 + P)]
                    zr = z[m * N:(m + 1) * N]
                    for t in range(n):
                        zr[t] = bias + wx * x[x0 + t]
                    for t in range(n, N):
                        zr[t] = bias
            # the dilated taps: tap k reads the columns from cursor + k * d
            wconv = layers[li, L_WCONV]
            _product(gemm, taps, narrow, mid, N, C, K, d, w, wt, wconv, hist, hrow0 + cursor,
                     stride, z, 0, N)
            code, gated = layers[li, L_ACT], layers[li, L_GATED] != 0
            if rows[3] != 0 and not gated and (code == 0 or code == 1 or code == 6):
                _call_c(rows[3], (code, C, n, z, a, N))
            else:
                _activate(code, gated, z, a, C, n, N)
            # head sum
            if ai == 0 and li == first:
                s[:C * N] = a[:C * N]
            elif rows[2] != 0:
                _call_c(rows[2], (C * N, a, s))
            else:
                for i in range(C * N):
                    s[i] += a[i]
            # residual: the next layer's input (or the array's output) = h + 1x1(a) + bias
            last = li == first + count - 1
            if last and ai == n_arrays - 1:
                continue  # the last array's output signal is not used
            w1, b1 = layers[li, L_W1], layers[li, L_B1]
            src = hrow0 + cursor + R
            if last:
                out, out0, ostride = hout, 0, N
            else:
                out, out0 = hist, base + layers[li + 1, L_HIST] + cursor + layers[li + 1, L_R]
                ostride = _stride(layers[li + 1, L_R], F)
            if rows[1] != 0:
                _call_c(rows[1], (C, N, hist[src:], stride, w[b1:], out[out0:], ostride))
            else:
                for c in range(C):
                    orow = out[out0 + c * ostride:out0 + c * ostride + N]
                    hrow = hist[src + c * stride:src + c * stride + N]
                    bc = w[b1 + c]
                    for t in range(N):
                        orow[t] = hrow[t] + bc
            _product(gemm, taps, narrow, C, N, C, 1, 0, w, wt, w1, a, 0, N, out, out0, ostride)
        # head: head_rechannel(sum) (+ bias) -> the next array's head sum, or the output
        whead, bhead = arrays[ai, A_WHEAD], arrays[ai, A_BHEAD]
        for h in range(H):
            hr = head[h * N:(h + 1) * N]
            b = w[bhead + h] if bhead >= 0 else np.float32(0.0)
            for t in range(N):
                hr[t] = b
        RH = arrays[ai, A_HR]
        if RH == 0:  # 1x1
            _product(gemm, taps, narrow, H, N, C, 1, 0, w, wt, whead, s, 0, N, head, 0, N)
        else:  # a causal head convolution: the sum into its history, then tap by tap
            hk, hd = arrays[ai, A_HK], arrays[ai, A_HD]
            strideh = _stride(RH, F)
            hrow0 = base + arrays[ai, A_HHIST]
            for c in range(C):
                dst = hrow0 + c * strideh + cursor + RH
                hist[dst:dst + N] = s[c * N:(c + 1) * N]
            _product(gemm, taps, narrow, H, N, C, hk, hd, w, wt, whead, hist, hrow0 + cursor,
                     strideh, head, 0, N)
        s[:H * N] = head[:H * N]
    for t in range(n):
        y[x0 + t] = head_scale * head[t]


@njit(cache=True, fastmath=True, error_model="numpy")
def run(gemm, taps, narrow, rows, x, y, block, w, wt, layers, arrays, controls, hist, cursor, F,
        head_scale, work):
    """Stream x (B, T) through the model in blocks of ``block`` samples (<= F) into y (B, T),
    each stream with its own history hist[b]; returns the new cursor. ``gemm``: the C
    kernel's product (0: numba's loops); ``taps``: its taps product, a convolution's taps in one
    pass (0: tap by tap); ``rows``: the addresses of ``rows.c``'s element-wise passes (affine,
    bias, add, activation; 0: numba's loops); ``narrow``: its narrow route for the columns past a
    block's whole panels (0: round every product up to whole panels); ``wt``: ``w`` with
    every matrix transposed, read by the narrow route."""
    B, T = x.shape
    mid_max, c_max = work
    N = _columns(gemm, narrow, min(block, T) if T > 0 else 1)
    z = np.zeros(mid_max * N, np.float32)  # zeros: scratch columns start finite
    a = np.zeros(c_max * N, np.float32)
    s = np.zeros(c_max * N, np.float32)
    hout = np.zeros(c_max * N, np.float32)
    head = np.zeros(c_max * N, np.float32)
    zb = np.zeros(mid_max, np.float32)
    flat = hist.reshape(-1)
    S = hist.shape[1]
    t0 = 0
    while t0 < T:
        n = min(block, T - t0)
        if cursor + n > F:
            for b in range(B):
                _rewind(layers, arrays, flat, b * S, cursor, F)
            cursor = 0
        for b in range(B):
            _block(gemm, taps, narrow, rows, x[b], t0, n, y[b], w, wt, layers, arrays,
                   controls[b], flat, b * S, cursor, F, head_scale, z, a, s, hout, head, zb)
        cursor += n
        t0 += n
    return cursor
