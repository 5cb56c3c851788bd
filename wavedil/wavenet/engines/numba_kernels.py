"""Compiled kernels of the numba engine: a whole chunk of generation in one call.

Eager PyTorch spends most of a generation step on per-operation overhead (about 130 small
ops per sample for a 20-layer model). Here the whole loop (layers, output network, sampler,
next-input embedding) runs as compiled code, and independent streams of a batch are split
across threads, so nothing synchronises inside a chunk. Within a thread, the streams move in
lockstep and every product is a (streams x in) @ (in x out) matrix product, done by the C
kernel of ``gemm.c`` when it is built (see ``native``) and by numba loops otherwise.

The arrays are the plan's (``plan.Plan``, grouped below), float32 unless noted. The ring is
flat: layer l, slot s, stream b, channel c at off[l] + (s * B + b) * C + c, so a group's rows
for one time step are contiguous; activations inside a group are flat (stream, channel). The
sampler mirrors ``wavedil.nn.heads`` on the same uniforms, in float64 where it does.

Sample features (``wavedil.wavenet.excitation``: pitch taps, the LP prediction) are computed in the
same loop from the history ring of past inputs, where the model has them; without them their
arrays are empty and the loop skips that work.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange

from ...native.jit import call_c as _call_c, gemm as _gemm, gemm_loops as _loops, tanh_f32 as _tanh
from ..excitation import LTP_FLOOR, LTP_RIDGE, LTP_SHARE

CATEGORICAL, LOGISTIC, GAUSSIAN = 0, 1, 2

Weights = namedtuple("Weights", "taps res res_bias skip skip_bias out1 out1_bias out2 out2_bias "
                                "embed embed_bias sample lags")
"""The plan's arrays (``plan.Plan``: w_taps, w_res, b_res, ...), float32, except the five
matrices: laid out by ``native.pack`` when the C kernel's packed form multiplies them, and held
as 16-bit words (uint16) either way: bfloat16 patterns in the compact-weight mode, one per
weight, else each float32 weight's two halves (its last axis twice as long; ``Options.words``
says which): one array type for both formats, so numba compiles the loop once. sample
(A, L * 2G): the sample features' projection (``plan.w_sample``; 0 rows without them); lags
(nl,) int64: the pitch-tap lags (0 without pitch taps)."""
State = namedtuple("State", "ring next_input history offsets spans dilations flags")
"""The engine's ``plan.WaveNetState``: ring (R * B * C,) flat, next_input (B, C), history (B, H + 1)
(past inputs in head space, input s in column s mod (H + 1); (B, 0) without sample features);
the ring's layout: offsets (L,) in floats (the plan's row offsets times B * C), spans,
dilations (L,); flags (24,) int64: the two threads' meeting place when one stream is shared
between them (``Options.pair``): their sync counters at 0 and 8 and arrivals at 16, zero at a
call's start, and each part's role at 20 + part (see :func:`_paired`)."""
Chunk = namedtuple("Chunk", "static local periods coeffs uniforms values logits temperatures")
"""One call's inputs and outputs: static (L, B or 1, 2G; 1: one row that every stream shares)
and local (n, L, B, 2G, none: 0 rows) biases; the sample features' context: periods (n, B)
int64, each output's pitch period (0: unvoiced; 0 rows without pitch taps), coeffs (n, B, p)
float32, its LP predictor (p = 0 without LP); uniforms (n, B, k) float64 when sampling; values
(B, n) float64, drawn, or given when teacher forcing; logits (n, B, O), written when teacher
forcing; temperatures (n, B) float64, each draw's own (0 rows: ``Options.temperature`` for
all)."""
Options = namedtuple("Options", "gemm stack sampler pair pair_join format words round_inputs "
                                "forcing head_kind temperature log_scale_min input_classes "
                                "mulaw_input classes means_lo means_hi ltp_window "
                                "scales_lo scales_hi gains")
"""gemm: the C kernel's address (0: numba's loops); stack: the address of the C layer loop
(``stack.c``'s wd_stack_step, 0: the loop here), which multiplies with the weights in format
(0: float32, 1: float32 in panels, 2: bfloat16 in panels, 3: bfloat16 in panels of pairs,
the inputs rounded too: ``stack.c``'s ``product``);
sampler: the address of the categorical draw (``sampler.c``'s wd_categorical, 0:
:func:`_inverse_cdf`); pair, pair_join: the addresses of ``stack.c``'s wd_pair_step and
wd_pair_join, where one stream's steps are shared between two threads (0: they are not; see
:func:`_paired`); words: 16-bit words per weight in the five
matrices (2: float32, 1: bfloat16); round_inputs: the products' inputs rounded to bfloat16
(weights="bf16-dot": by the C kernel in format 3, else by numba's loops, gemm and stack then
0); forcing: feed ``values`` and write logits;
the head's kind (CATEGORICAL, ...), temperature and log-scale floor; the input embedding's kind;
classes (float); the head's mean channels means_lo .. means_hi - 1, which the LP and pitch
predictions move; ltp_window: the pitch prediction's window (0: none); the head's log-scale
channels scales_lo .. scales_hi - 1, combined with the pitch prediction's log residual RMS;
gains: the pitch gains, the last ``gains`` columns of out2, which multiply the pitch taps
(0: none)."""


@njit(cache=True, fastmath=False)
def _pitch_prediction(hist, b, t, P, lags, W, H1, taps, g, r, out):
    """``SampleFeatures._pitch_prediction`` of output t of stream b: the weights fit to
    inputs t + 1 - W .. t of the history ring, each from its own taps P + lag back, by
    ``excitation.solve_ridge``'s ridge towards its prior and Cholesky, applied to the output's taps (float32,
    (NL,)) and clipped, and the log RMS of the fit's residual: written to out[0] and out[1]
    (float32). P = 0 (unvoiced): prediction 0, the window's own log RMS. g (2 NL^2,) and r
    (2 NL,) float64 scratch: their second halves keep the Gram matrix and right-hand side for
    the residual while the first are factored and solved in place."""
    NL = lags.shape[0]
    g[:] = 0.0
    r[:] = 0.0
    yy = 0.0
    for w in range(W):
        n = t + 1 - W + w
        y = np.float64(hist[b, n % H1])
        yy += y * y
        if P == 0:
            continue
        for i in range(NL):  # this target's taps, held in r's second half for now
            r[NL + i] = np.float64(hist[b, (n - P - lags[i]) % H1])
        for i in range(NL):
            ai = r[NL + i]
            r[i] += ai * y
            for k in range(i + 1):  # the lower triangle; mirrored below
                g[i * NL + k] += ai * r[NL + k]
    if P == 0:
        out[0] = np.float32(0.0)
        out[1] = np.float32(0.5 * math.log(LTP_SHARE * LTP_SHARE * yy / W + LTP_FLOOR * LTP_FLOOR))
        return
    for i in range(NL):
        for k in range(i):
            g[k * NL + i] = g[i * NL + k]
    gram = g[NL * NL:2 * NL * NL]  # the Gram kept for the residual, rhs too
    rhs = r[NL:2 * NL]
    gram[:] = g[:NL * NL]
    rhs[:] = r[:NL]
    lam = 0.0
    for i in range(NL):
        lam += g[i * NL + i]
    lam = LTP_RIDGE * (lam / NL) + 1e-30
    prior = 0  # excitation.prior_index: the lag nearest 0, the first of two as near
    for i in range(NL):
        g[i * NL + i] += lam
        if abs(lags[i]) < abs(lags[prior]):
            prior = i
    for i in range(NL):  # Cholesky, in place: the lower triangle holds the factor
        for k in range(i + 1):
            acc = g[i * NL + k]
            for m in range(k):
                acc -= g[i * NL + m] * g[k * NL + m]
            if i == k:
                g[i * NL + i] = max(math.sqrt(max(acc, 0.0)), 1e-150)
            else:
                g[i * NL + k] = acc / g[k * NL + k]
    for i in range(NL):  # forward: L y = r + lam e_prior
        acc = r[i] + lam if i == prior else r[i]
        for m in range(i):
            acc -= g[i * NL + m] * r[m]
        r[i] = acc / g[i * NL + i]
    for i in range(NL - 1, -1, -1):  # back: L^T w = y
        acc = r[i]
        for m in range(i + 1, NL):
            acc -= g[m * NL + i] * r[m]
        r[i] = acc / g[i * NL + i]
    pred = 0.0
    bound = 0.0
    for i in range(NL):
        pred += r[i] * np.float64(taps[i])
        bound = max(bound, abs(np.float64(taps[i])))
    out[0] = np.float32(min(max(pred, -bound), bound))  # excitation.tap_prediction
    wr = 0.0
    wgw = 0.0
    for i in range(NL):  # the residual energy y.y - 2 w.r + w G w
        wr += r[i] * rhs[i]
        acc = 0.0
        for k in range(NL):
            acc += gram[i * NL + k] * r[k]
        wgw += r[i] * acc
    left = max(yy - 2.0 * wr + wgw, 0.0)
    out[1] = np.float32(0.5 * math.log(LTP_SHARE * LTP_SHARE * left / W + LTP_FLOOR * LTP_FLOOR))


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
def _inverse_cdf(logits, lo, n, temperature, u, work):
    """Index drawn from softmax(logits[lo:lo+n] / T) with uniform u (as heads._inverse_cdf);
    ``work`` is float64 scratch of at least 2n."""
    m = -np.inf
    for i in range(n):
        v = np.float64(logits[lo + i]) / temperature
        if v > m:
            m = v
    e = work[:n]
    total = 0.0
    for i in range(n):
        e[i] = math.exp(np.float64(logits[lo + i]) / temperature - m)
        total += e[i]
    acc = 0.0
    cdf = work[n:2 * n]
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
def _sample(kind, logits, u0, u1, temperature, n_out, log_scale_min, work, sampler, drawn):
    """One head sample from logits (n_out,), as a float (class index for categorical);
    ``work`` is float64 scratch of at least 2 * n_out. A categorical draw is made by the C
    function at address ``sampler`` (``sampler.c``, its index written to ``drawn`` (1,) int64)
    where it is not 0, else by :func:`_inverse_cdf`."""
    if kind == CATEGORICAL:
        if temperature == 0.0:
            return np.float64(_argmax(logits, 0, n_out))
        if sampler != 0:
            _call_c(sampler, (logits, n_out, temperature, u0, work, drawn))
            return np.float64(drawn[0])
        return np.float64(_inverse_cdf(logits, 0, n_out, temperature, u0, work))
    if kind == LOGISTIC:
        K = n_out // 3
        if temperature == 0.0:
            k = _argmax(logits, 0, K)
            return min(max(np.float64(logits[K + k]), -1.0), 1.0)
        k = _inverse_cdf(logits, 0, K, temperature, u0, work)
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
def _embed(value, x, input_classes, mulaw_input, embed, embed_bias, classes):
    """Write the embedded input for a head-space value into x (C,): ``plan.head_input``,
    then ``plan.embed``."""
    C = x.shape[0]
    if input_classes:
        row = int(value)
        for c in range(C):
            x[c] = embed[row, c]
    else:
        v = value
        if mulaw_input:
            v = _mulaw_decode(value, classes)
        for c in range(C):
            x[c] = embed_bias[c] + np.float32(v) * embed[0, c]


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _gemm_words(fn, rnd, M, N, K, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    """The same product with b one of the engine's weight matrices, held as 16-bit words (see
    ``Weights``; b_off counts words, ldb elements): by the C kernel at address ``fn``, or by
    :func:`_loops` when ``fn`` is 0 (float32 weights only: the engine holds bfloat16 weights
    only with the C kernel), a's values rounded to bfloat16 first where ``rnd`` (the C
    kernel's wd_gemm_packed_dot rounds them itself)."""
    if fn != 0:
        _call_c(fn, (M, N, K, a[a_off:], lda, b[b_off:], ldb, c[c_off:], ldc))
        return
    _loops(M, N, K, a, a_off, lda, b.view(np.float32), b_off // 2, ldb, c, c_off, ldc, rnd)


@njit(cache=True)
def _output(i, b, write, lq, chunk, options, work, drawn):
    """Step i's value for stream b from its logits lq: the given one when teacher forcing (the
    logits written out), else drawn (the value written out); ``write``: whether to write."""
    _, _, _, _, uni, values, logits_out, temps = chunk
    forcing, head_kind, temperature, log_scale_min, sampler = (
        options.forcing, options.head_kind, options.temperature, options.log_scale_min,
        options.sampler)
    if temps.shape[0] > 0:
        temperature = temps[i, b]
    O = lq.shape[0]
    if forcing:
        if write:
            for o in range(O):
                logits_out[i, b, o] = lq[o]
        return values[b, i]
    value = _sample(head_kind, lq, uni[i, b, 0], uni[i, b, uni.shape[2] - 1], temperature, O,
                    log_scale_min, work, sampler, drawn)
    if write:
        values[b, i] = value
    return value


@njit(cache=True, fastmath=True, error_model="numpy")
def _group(b0, b1, n, t0, weights, state, chunk, options):
    """Run streams b0..b1-1 of the batch in lockstep for n steps: every product is one
    (streams x in) @ (in x out) matrix product, so each weight is read once per step for the
    whole group. Activations are flat, row-major (stream, channel).

    Mirrors ``wavedil.wavenet.plan.step`` line by line (the comments name its lines), except
    that the ring is read and written layer by layer, and the sampler and the next input's
    embedding (``heads``, ``plan.embed``, ``Engine.set_input``'s history write) follow in the
    same loop."""
    wk, wr, br, ws, bs, w1, b1_, w2, b2, embed, embed_bias, wsmp, lags = weights
    buf, inp, hist, off, span, dil, _ = state
    static, local, periods, coeffs, _, _, _, _ = chunk
    (gemm, stack, _, _, _, fmt, words, rnd, _, _, _, _, input_classes, mulaw_input, classes,
     means_lo, means_hi, ltp_window, scales_lo, scales_hi, gains) = options
    has_local = local.shape[0] > 0
    has_features = hist.shape[1] > 0
    H1 = hist.shape[1]
    NL = lags.shape[0]
    p = coeffs.shape[2]
    A = wsmp.shape[0]
    L, KC, G = wk.shape[0], wk.shape[1], wk.shape[2] // words
    C = inp.shape[1]
    G2 = G // 2
    Km1 = KC // C - 1
    S = ws.shape[1] // words
    O = w2.shape[1] // words
    nb = b1 - b0
    B = inp.shape[0]
    LG = L * G2
    wkf, wrf = wk.reshape(-1), wr.reshape(-1)
    wsf, w1f, w2f = ws.reshape(-1), w1.reshape(-1), w2.reshape(-1)
    x = inp[b0:b1].copy().reshape(-1)  # (nb, C): step's x = state.next_input
    a = np.empty(nb * KC, np.float32)  # a layer's input: its older taps, then x
    h = np.empty(nb * G, np.float32)
    z = np.empty(nb * LG, np.float32)  # every layer's gated output: the skip product's input
    s = np.empty(nb * S, np.float32)
    s1 = np.empty(nb * S, np.float32)
    lg = np.empty(nb * O, np.float32)
    work = np.empty(2 * O)  # the sampler's scratch
    drawn = np.empty(1, np.int64)
    feats = np.empty(nb * A, np.float32)  # (nb, A): this step's sample features
    fbias = np.empty(nb * L * G, np.float32)  # (nb, L * 2G): their share of every layer's bias
    lp = np.zeros(nb, np.float32)  # the prediction added to the means: pitch + LP
    gram = np.empty(2 * NL * NL)  # the pitch prediction's scratch
    rhs = np.empty(2 * NL)
    ltp = np.empty(2, np.float32)  # its prediction and log residual RMS
    ls = np.zeros(nb, np.float32)  # the offset of the head's log scales
    wsm = wsmp.reshape(-1)
    half = np.float32(0.5)
    zero = np.float32(0.0)
    for i in range(n):
        t = t0 + i
        if has_features:  # step's sample_features: the window ends at input t, column t mod H1
            for q in range(nb):
                b = b0 + q
                P = periods[i, b] if NL > 0 else 0
                for j in range(NL):  # the tap at lag l reads input t + 1 - (P + l), if voiced
                    feats[q * A + j] = hist[b, (t + 1 - P - lags[j]) % H1] if P > 0 else zero
                lp[q] = zero
                if ltp_window > 0:  # the pitch prediction and its log residual RMS
                    _pitch_prediction(hist, b, t, P, lags, ltp_window, H1,
                                      feats[q * A:q * A + NL], gram, rhs, ltp)
                    lp[q] = ltp[0]
                    ls[q] = ltp[1]
                    feats[q * A + NL] = ltp[0]
                    feats[q * A + NL + 1] = ltp[1]
                if p > 0:  # LP: -sum_k a_k x_{t + 1 - k}
                    acc = zero
                    for k in range(p):
                        acc += coeffs[i, b, k] * hist[b, (t - k) % H1]
                    lp[q] += -acc
                    feats[q * A + NL + 2 * (ltp_window > 0)] = -acc
            # step's bias + feats @ w_sample: A is a handful, numba's loops do it
            fbias[:] = zero
            _loops(nb, L * G, A, feats, 0, A, wsm, 0, L * G, fbias, 0, L * G, False)
        if stack != 0:  # the layer loop, in C (stack.c)
            _call_c(stack, (fmt, nb, B, b0, t, L, C, G, KC, static, static.shape[1], has_local,
                            local[i] if has_local else static, has_features, fbias, wk, wr, br,
                            buf, off, span, dil, x, a, h, z))
        else:
            for l in range(L):
                sp = span[l]
                d = dil[l]
                for q in range(nb):
                    st = static[l, b0 + q if static.shape[1] > 1 else 0]
                    hq = h[q * G:(q + 1) * G]
                    if has_local:
                        lc = local[i, l, b0 + q]
                        for o in range(G):
                            hq[o] = st[o] + lc[o]
                    else:
                        hq[:] = st
                    if has_features:
                        fq = fbias[(q * L + l) * G:(q * L + l + 1) * G]
                        for o in range(G):
                            hq[o] += fq[o]
                    aq = a[q * KC:(q + 1) * KC]  # step's window = cat(taps, x)
                    for j in range(Km1):
                        row = off[l] + (((t + j * d) % sp) * B + b0 + q) * C
                        aq[j * C:(j + 1) * C] = buf[row:row + C]
                    aq[Km1 * C:] = x[q * C:(q + 1) * C]
                # step's h = bias[l] + window @ w_taps[l]
                _gemm_words(gemm, rnd, nb, G, KC, a, 0, KC, wkf, l * KC * G * words, G, h, 0, G)
                if sp > 0:  # step's ring write (there for all layers at once)
                    row = off[l] + ((t % sp) * B + b0) * C
                    buf[row:row + nb * C] = x
                for q in range(nb):  # slices, so that numba sees contiguous rows and vectorises
                    zq = z[q * LG + l * G2:q * LG + (l + 1) * G2]
                    ha = h[q * G:q * G + G2]
                    hb = h[q * G + G2:(q + 1) * G]
                    for o in range(G2):  # step's z = glu(tanh(filter), gate)
                        zq[o] = _tanh(ha[o]) * (half + half * _tanh(half * hb[o]))
                if l < L - 1:  # step's x = x + z @ w_res[l] + b_res[l]
                    _gemm_words(gemm, rnd, nb, C, G2, z, l * G2, LG, wrf, l * G2 * C * words, C, x,
                                0, C)
                    brl = br[l]
                    for q in range(nb):
                        xq = x[q * C:(q + 1) * C]
                        for c in range(C):
                            xq[c] += brl[c]
        for q in range(nb):  # output network: skip sum, ReLU, 1x1, ReLU, 1x1
            for o in range(S):
                s[q * S + o] = bs[o]
                s1[q * S + o] = b1_[o]
            for o in range(O):
                lg[q * O + o] = b2[o]
        _gemm_words(gemm, rnd, nb, S, LG, z, 0, LG, wsf, 0, S, s, 0, S)
        np.maximum(s, zero, s)
        _gemm_words(gemm, rnd, nb, S, S, s, 0, S, w1f, 0, S, s1, 0, S)
        np.maximum(s1, zero, s1)
        _gemm_words(gemm, rnd, nb, O, S, s1, 0, S, w2f, 0, O, lg, 0, O)
        for q in range(nb):
            b = b0 + q
            lq = lg[q * O:(q + 1) * O - gains]
            if gains > 0:  # step's tap_prediction(gains, taps), added to lp
                acc = zero
                bound = zero
                for j in range(gains):
                    tap = feats[q * A + j]
                    acc += lg[(q + 1) * O - gains + j] * tap
                    bound = max(bound, abs(tap))
                lp[q] += min(max(acc, -bound), bound)
            for o in range(means_lo, means_hi):  # step's out[:, means] += lp
                lq[o] += lp[q]
            for o in range(scales_lo, scales_hi):  # step's combine_scale(out[:, scales], scale)
                top = max(lq[o], ls[q])
                lq[o] = top + half * np.float32(math.log1p(math.exp(
                    np.float64(np.float32(-2.0) * abs(lq[o] - ls[q])))))
            value = _output(i, b, True, lq, chunk, options, work, drawn)
            _embed(value, x[q * C:(q + 1) * C], input_classes, mulaw_input, embed, embed_bias,
                   classes)
            if has_features:  # set_input's history write: input t + 1, in head space
                hist[b, (t + 1) % H1] = np.float32(value)
    for q in range(nb):
        for c in range(C):
            inp[b0 + q, c] = x[q * C + c]


PAIR_WAIT = 0.05
"""Seconds a thread waits at a chunk's start for the other before running a shared stream alone."""


@njit(cache=True, fastmath=True, error_model="numpy")
def _paired(part, n, t0, weights, state, chunk, options, shared):
    """This thread's part (0 or 1) of n steps of the batch's one stream, shared with the other
    thread through ``stack.c``'s wd_pair_step: each computes half of every product's columns
    and the same samples as :func:`_group` bit for bit. Both draw every sample from the whole
    logits (the same draw) and write their half of the next input's embedding; part 0 writes
    the outputs. ``shared`` (z, s, s1, logits) are the arrays both threads use. If the
    other thread does not arrive (``PAIR_WAIT``), the first runs the chunk alone; each part's
    role is left in ``state.flags[20 + part]`` (1: shared, 0: alone, -1: found it done)."""
    wk, wr, br, ws, bs, w1, b1_, w2, b2, embed, embed_bias, _, _ = weights
    buf, inp, _, off, span, dil, flags = state
    static, local, _, _, _, _, _, _ = chunk
    (_, _, _, pair, pair_join, fmt, words, _, _, _, _, _, input_classes, mulaw_input, classes,
     _, _, _, _, _, _) = options
    z, s, s1, lg = shared
    role = flags[20 + part:]
    _call_c(pair_join, (flags, PAIR_WAIT, role))
    if role[0] < 0:
        return
    if role[0] == 0:
        _group(0, 1, n, t0, weights, state, chunk, options)
        return
    has_local = local.shape[0] > 0
    L, KC, G = wk.shape[0], wk.shape[1], wk.shape[2] // words
    C = inp.shape[1]
    S = ws.shape[1] // words
    O = w2.shape[1] // words
    x = inp[0]  # (C,): both threads' halves of the next input, in the state itself
    c0, c1 = part * (C // 2), (part + 1) * (C // 2)
    window = np.empty(KC, np.float32)
    h = np.empty(G, np.float32)
    e = np.empty(C, np.float32)
    work = np.empty(2 * O)
    drawn = np.empty(1, np.int64)
    dims = np.array([part, t0, L, C, G, KC, S, O, fmt, has_local], np.int64)  # stack.c's order
    for i in range(n):
        dims[1] = t0 + i
        _call_c(pair, (dims, static, local[i] if has_local else static, wk, wr, br, ws, bs, w1,
                       b1_, w2, b2, buf, off, span, dil, x, window, h, z, s, s1, lg, flags))
        value = _output(i, 0, part == 0, lg, chunk, options, work, drawn)
        _embed(value, e, input_classes, mulaw_input, embed, embed_bias, classes)
        x[c0:c1] = e[c0:c1]


@njit(cache=True, parallel=True)
def run_chunk(n, t0, weights, state, chunk, options, groups):
    """Advance every stream n steps from time t0: ``weights`` on ``state``, with ``chunk``'s
    inputs and outputs, under ``options``. The batch is split into ``groups`` contiguous
    groups that run in parallel, each to the chunk's end, with no synchronisation inside;
    or, where ``options.pair`` is set (one stream, groups = 2), the stream's steps are shared
    by two threads (:func:`_paired`)."""
    B = state.next_input.shape[0]
    if options.pair != 0:
        LG = state.offsets.shape[0] * (weights.taps.shape[2] // options.words // 2)
        S = weights.skip.shape[1] // options.words
        shared = (np.empty(LG, np.float32), np.empty(S, np.float32), np.empty(S, np.float32),
                  np.empty(weights.out2.shape[1] // options.words, np.float32))
        for g in prange(2):
            _paired(g, n, t0, weights, state, chunk, options, shared)
        return
    for g in prange(groups):
        lo = g * B // groups
        hi = (g + 1) * B // groups
        if hi > lo:
            _group(lo, hi, n, t0, weights, state, chunk, options)
