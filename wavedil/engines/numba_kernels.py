"""Compiled kernels of the numba engine: a whole chunk of generation in one call.

Eager PyTorch spends most of a generation step on per-operation overhead (about 130 small
ops per sample for a 20-layer model). Here the whole loop (layers, output network, sampler,
next-input embedding) runs as compiled code, and independent streams of a batch are split
across threads, so nothing synchronises inside a chunk.

Layouts (all float32 unless noted):
    buf    flat, time-major; layer l, slot s, stream b, channel c at off[l] + (s * B + b) * C + c
           (a group's rows for one time step are contiguous)
    wc     (L, C, 2G2)        current tap           wp   (L, K-1, C, 2G2)  older taps
    wr     (L, G2, C)         residual (zeros for the last layer)
    ws     (L * G2, S)        skip, scaled          w1 (S, S), w2 (S, O)
The sampler mirrors ``wavedil.heads`` on the same uniforms, in float64 where it does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

CATEGORICAL, LOGISTIC, GAUSSIAN = 0, 1, 2


@njit(cache=True, fastmath=False)
def _erfinv(y: float) -> float:
    """Inverse error function: Giles' approximation, then two Newton steps on math.erf."""
    if y <= -1.0:
        return -np.inf
    if y >= 1.0:
        return np.inf
    w = -math.log((1.0 - y) * (1.0 + y))
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        p = 0.000100950558 + p * w
        p = 0.00134934322 + p * w
        p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w
        p = -0.0076224613 + p * w
        p = 0.00943887047 + p * w
        p = 1.00167406 + p * w
        p = 2.83297682 + p * w
    x = p * y
    for _ in range(2):
        err = math.erf(x) - y
        x -= err / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


@njit(cache=True)
def _inverse_cdf(logits, lo, n, temperature, u):
    """Index drawn from softmax(logits[lo:lo+n] / T) with uniform u (as heads._inverse_cdf)."""
    m = -np.inf
    for i in range(n):
        v = np.float64(logits[lo + i]) / temperature
        if v > m:
            m = v
    e = np.empty(n)
    total = 0.0
    for i in range(n):
        e[i] = math.exp(np.float64(logits[lo + i]) / temperature - m)
        total += e[i]
    acc = 0.0
    cdf = np.empty(n)
    for i in range(n):
        acc += e[i] / total
        cdf[i] = acc
    target = u * cdf[n - 1]
    idx = 0
    for i in range(n):
        if cdf[i] < target:
            idx += 1
    return min(idx, n - 1)


@njit(cache=True)
def _argmax(logits, lo, n):
    best, arg = logits[lo], 0
    for i in range(1, n):
        if logits[lo + i] > best:
            best, arg = logits[lo + i], i
    return arg


@njit(cache=True)
def _sample(kind, logits, u0, u1, temperature, n_out, log_scale_min):
    """One head sample from logits (n_out,), as a float (class index for categorical)."""
    if kind == CATEGORICAL:
        if temperature == 0.0:
            return np.float64(_argmax(logits, 0, n_out))
        return np.float64(_inverse_cdf(logits, 0, n_out, temperature, u0))
    if kind == LOGISTIC:
        K = n_out // 3
        if temperature == 0.0:
            k = _argmax(logits, 0, K)
            return min(max(np.float64(logits[K + k]), -1.0), 1.0)
        k = _inverse_cdf(logits, 0, K, temperature, u0)
        mu = np.float64(logits[K + k])
        s = math.exp(max(np.float64(logits[2 * K + k]), log_scale_min))
        v = min(max(u1, 1e-5), 1.0 - 1e-5)
        return min(max(mu + s * temperature * (math.log(v) - math.log1p(-v)), -1.0), 1.0)
    mean = np.float64(logits[0])
    if temperature == 0.0:
        return min(max(mean, -1.0), 1.0)
    s = math.exp(max(np.float64(logits[1]), log_scale_min))
    v = min(max(u0, 1e-6), 1.0 - 1e-6)
    z = math.sqrt(2.0) * _erfinv(2.0 * v - 1.0)
    return min(max(mean + s * temperature * z, -1.0), 1.0)


@njit(cache=True)
def _mulaw_decode(q, classes):
    mu = classes - 1.0
    x = q / mu * 2.0 - 1.0
    sign = 1.0 if x >= 0 else -1.0
    return sign * (math.exp(abs(x) * math.log1p(mu)) - 1.0) / mu


@njit(cache=True)
def _embed(value, x, input_classes, head_kind, embed, embed_bias, classes):
    """Write the embedded input for a head-space value into x (C,)."""
    C = x.shape[0]
    if input_classes:
        row = int(value)
        for c in range(C):
            x[c] = embed[row, c]
    else:
        v = value
        if head_kind == CATEGORICAL:
            v = _mulaw_decode(value, classes)
        for c in range(C):
            x[c] = embed_bias[c] + np.float32(v) * embed[0, c]


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _tanh(x):
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


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _affine(x, w, b, out, relu_in):
    """out = b + f(x) @ w, with f = ReLU when relu_in: x (K,), w (K, N), out (N,)."""
    for o in range(out.shape[0]):
        out[o] = b[o]
    for k in range(x.shape[0]):
        v = max(x[k], np.float32(0.0)) if relu_in else x[k]
        wrow = w[k]
        for o in range(out.shape[0]):
            out[o] += v * wrow[o]


@njit(cache=True, fastmath=True, error_model="numpy")
def _group(b0, b1, n, t0, buf, off, span, dil, inp, wc, wp, wr, br, static, local, has_local,
           ws, bs, w1, b1_, w2, b2, uni, temperature, forced, has_forced, head_kind,
           log_scale_min, input_classes, embed, embed_bias, classes, values, logits_out,
           want_logits):
    """Run streams b0..b1-1 of the batch in lockstep for n steps: each layer's weights are
    read once per step for the whole group."""
    L, C, G = wc.shape
    G2 = G // 2
    Km1 = wp.shape[1]
    S = ws.shape[1]
    O = w2.shape[1]
    nb = b1 - b0
    BC = inp.shape[0] * C
    x = inp[b0:b1].copy()  # (nb, C)
    h = np.empty((nb, G), np.float32)
    z = np.empty((nb, L * G2), np.float32)
    s = np.empty((nb, S), np.float32)
    s1 = np.empty((nb, S), np.float32)
    logits = np.empty((nb, O), np.float32)
    half = np.float32(0.5)
    for i in range(n):
        t = t0 + i
        for l in range(L):
            sp = span[l]
            d = dil[l]
            for q in range(nb):
                b = b0 + q
                hq = h[q]
                xq = x[q]
                st = static[l, b]
                if has_local:
                    lc = local[i, l, b]
                    for o in range(G):
                        hq[o] = st[o] + lc[o]
                else:
                    for o in range(G):
                        hq[o] = st[o]
                for c in range(C):
                    xc = xq[c]
                    wrow = wc[l, c]
                    for o in range(G):
                        hq[o] += xc * wrow[o]
                if sp > 0:
                    base = off[l] + b * C
                    for j in range(Km1):
                        row = base + ((t + j * d) % sp) * BC
                        for c in range(C):
                            xc = buf[row + c]
                            wrow = wp[l, j, c]
                            for o in range(G):
                                hq[o] += xc * wrow[o]
                    row = base + (t % sp) * BC
                    for c in range(C):
                        buf[row + c] = xq[c]
                zq = z[q, l * G2:(l + 1) * G2]
                ha = hq[:G2]
                hb = hq[G2:]
                for o in range(G2):
                    zq[o] = _tanh(ha[o]) * (half + half * _tanh(half * hb[o]))
                if l < L - 1:
                    for g in range(G2):
                        zg = zq[g]
                        wrow = wr[l, g]
                        for c in range(C):
                            xq[c] += zg * wrow[c]
                    brl = br[l]
                    for c in range(C):
                        xq[c] += brl[c]
        for q in range(nb):
            b = b0 + q
            lq = logits[q]
            _affine(z[q], ws, bs, s[q], False)  # skip sum
            _affine(s[q], w1, b1_, s1[q], True)
            _affine(s1[q], w2, b2, lq, True)
            if want_logits:
                for o in range(O):
                    logits_out[i, b, o] = lq[o]
            if has_forced:
                value = forced[b, i]
            else:
                value = _sample(head_kind, lq, uni[i, b, 0], uni[i, b, uni.shape[2] - 1],
                                temperature, O, log_scale_min)
            values[b, i] = value
            _embed(value, x[q], input_classes, head_kind, embed, embed_bias, classes)
    for q in range(nb):
        for c in range(C):
            inp[b0 + q, c] = x[q, c]


@njit(cache=True, parallel=True)
def run_chunk(n, t0, buf, off, span, dil, inp, wc, wp, wr, br, static, local, has_local,
              ws, bs, w1, b1, w2, b2, uni, temperature, forced, has_forced, head_kind,
              log_scale_min, input_classes, embed, embed_bias, classes, values, logits_out,
              want_logits, groups):
    """Advance every stream n steps. The batch is split into ``groups`` contiguous groups
    that run in parallel, each to the chunk's end, with no synchronisation inside."""
    B = inp.shape[0]
    for g in prange(groups):
        lo = g * B // groups
        hi = (g + 1) * B // groups
        if hi > lo:
            _group(lo, hi, n, t0, buf, off, span, dil, inp, wc, wp, wr, br, static, local,
                   has_local, ws, bs, w1, b1, w2, b2, uni, temperature, forced, has_forced,
                   head_kind, log_scale_min, input_classes, embed, embed_bias, classes, values,
                   logits_out, want_logits)
