/* One generation step of the residual stack for a group of streams, in C: the numba engine's
 * layer loop (numba_kernels._group, which mirrors plan.step) with the same operations in the
 * same order, for when the C kernel is built. Each layer:
 *
 *     h      = bias[l] (static, + local, + the sample features' share)     (nb, G)
 *     window = cat(the ring's older taps, x)                               (nb, K * C)
 *     h     += window @ taps[l]                       (gemm.c)
 *     ring  <- x at slot t mod span                   (after the taps are read)
 *     z[l]   = tanh(h[:, :G/2]) * sigmoid(h[:, G/2:])                      (nb, G/2)
 *     x     += z[l] @ res[l] + res_bias[l]            (all layers but the last)
 *
 * In numba the copies and the gate of a step cost more than its products at batch 1 (4.5 us of
 * a 36 us step for config A, against about 1.6 us here: numba's slices and scalar loops, a
 * one-off probe). sigmoid(v) is computed as 0.5 + 0.5 tanh(v / 2) with numba_kernels._tanh's
 * rational function (Eigen's fast tanh: |error| < 3e-7), eight lanes at a time.
 *
 * For a single stream the same loop is shared by two threads, with the output network
 * (wd_pair_step, below). The ring is flat: layer l, slot s, stream b, channel c at
 * off[l] + (s * B + b) * C + c. Built with gemm.c into one library by wavedil/native/kernel.py. */

#include <stdint.h>
#include <string.h>
#include <time.h>

void wd_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
             int64_t ldb, float *C, int64_t ldc);
void wd_gemm_packed(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc);
void wd_gemm_packed_bf16(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const void *B, int64_t ldb, float *C, int64_t ldc);
void wd_gemm_packed_dot(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const void *B, int64_t ldb, float *C, int64_t ldc);

#include "vec8.h"

/* dst[:n] = src[:n], inline: a call to memcpy costs more than copying a row of tens of floats */
static inline void copy(float *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        ST(dst + i, LD(src + i));
    for (; i < n; i++)
        dst[i] = src[i];
}

/* numba_kernels._tanh, eight lanes, as a fraction: x * p / q is tanh(x), with x clamped */
static inline void tanh_fraction(v8 x, v8 *xp, v8 *q)
{
    v8 c = splat(7.90531110763549805f);
    x = vmax(vmin(x, c), -c);
    v8 x2 = x * x;
    v8 p = splat(-2.76076847742355e-16f);
    p = p * x2 + splat(2.00018790482477e-13f);
    p = p * x2 + splat(-8.60467152213735e-11f);
    p = p * x2 + splat(5.12229709037114e-08f);
    p = p * x2 + splat(1.48572235717979e-05f);
    p = p * x2 + splat(6.37261928875436e-04f);
    p = p * x2 + splat(4.89352455891786e-03f);
    v8 d = splat(1.19825839466702e-06f);
    d = d * x2 + splat(1.18534705686654e-04f);
    d = d * x2 + splat(2.26843463243900e-03f);
    d = d * x2 + splat(4.89352518554385e-03f);
    *xp = x * p;
    *q = d;
}

/* tanh(a) * (0.5 + 0.5 tanh(b / 2)) = (pa / qa) * (qb + pb) / (2 qb), one fraction: a division
 * (the slowest instruction here) for eight lanes instead of two. The denominators stay within
 * [0.0048, 0.9], so their product neither overflows nor loses precision. */
static inline v8 gate8(v8 a, v8 b)
{
    v8 pa, qa, pb, qb;
    tanh_fraction(a, &pa, &qa);
    tanh_fraction(splat(0.5f) * b, &pb, &qb);
    return pa * (qb + pb) / (splat(2.0f) * qa * qb);
}

/* z[o] = tanh(a[o]) * (0.5 + 0.5 tanh(0.5 b[o])) for o < n: eight lanes at a time, the last
 * n mod 8 through the same code on a padded copy. */
static void gate(int64_t n, const float *a, const float *b, float *z)
{
    int64_t o = 0;
    for (; o + 8 <= n; o += 8)
        ST(z + o, gate8(LD(a + o), LD(b + o)));
    if (o < n) {
        float pa[8] = {0}, pb[8] = {0}, pz[8];
        memcpy(pa, a + o, (n - o) * sizeof(float));
        memcpy(pb, b + o, (n - o) * sizeof(float));
        ST(pz, gate8(LD(pa), LD(pb)));
        memcpy(z + o, pz, (n - o) * sizeof(float));
    }
}

/* C[M, N] += A @ B with B columns col .. col + N - 1 of one of the engine's weight matrices
 * (K rows, ldb columns), ``elements`` into its array: format 0 float32 as it is (wd_gemm), 1
 * float32 in panels (wd_gemm_packed), 2 bfloat16 in panels (wd_gemm_packed_bf16), 3 bfloat16
 * in panels of pairs, A rounded to bfloat16 too (wd_gemm_packed_dot); in panels col is a
 * multiple of 16, and the columns' panels start col * K elements in. */
static void product(int64_t format, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const void *B, int64_t elements, int64_t col, int64_t ldb, float *C,
                    int64_t ldc)
{
    if (format == 3)
        wd_gemm_packed_dot(M, N, K, A, lda, (const uint16_t *)B + elements + col * K, N, C, ldc);
    else if (format == 2)
        wd_gemm_packed_bf16(M, N, K, A, lda, (const uint16_t *)B + elements + col * K, N, C, ldc);
    else if (format == 1)
        wd_gemm_packed(M, N, K, A, lda, (const float *)B + elements + col * K, N, C, ldc);
    else
        wd_gemm(M, N, K, A, lda, (const float *)B + elements + col, ldb, C, ldc);
}

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Two threads meet (see wd_pair_step). flags: int64, this thread's counter at 8 * part, the
 * other's at 8 * (1 - part): a thread bumps its own (release) and spins until the other's has
 * caught up (acquire). */
static inline void pair_sync(int64_t *flags, int64_t part)
{
    const int64_t mine = flags[8 * part] + 1;
    __atomic_store_n(&flags[8 * part], mine, __ATOMIC_RELEASE);
    while (__atomic_load_n(&flags[8 * (1 - part)], __ATOMIC_ACQUIRE) < mine)
        spin_pause();
}

/* Streams b0 .. b0 + nb - 1 of B, one step at time t, through all L layers, or this thread's
 * part of them where ``parts`` (1 or 2) threads share the step: the part's share of the filter
 * and gate columns (G / 2 / parts of each, from part * that) and of the residual columns
 * (C / parts), the others' halves read after each meeting. static_ is (L, Bs, G): Bs = B, a
 * row for each stream, or 1, one row that every stream shares (no speaker, or one for all: 32
 * copies would be 160 KB more to read from the L3 cache every step at batch 32, where one stays
 * in L1); local (L, B, G), this step's local biases, read when has_local; fbias (nb, L * G),
 * the sample features' share of the biases, read when has_features. taps (L, K * C, G) and res
 * (L, G / 2, C) in ``format``; res_bias (L, C). x (nb, C) is updated in place; window
 * (nb, K * C), h (nb, G) are scratch; z (nb, L * G / 2) receives every layer's gated output.
 * The ring write follows the gate's meeting: the slot written is the one just read. */
static void layers(int64_t part, int64_t parts, int64_t *flags, int64_t format, int64_t nb,
                   int64_t B, int64_t b0, int64_t t, int64_t L, int64_t C, int64_t G,
                   int64_t KC, const float *static_, int64_t Bs, int64_t has_local,
                   const float *local, int64_t has_features, const float *fbias,
                   const void *taps, const void *res, const float *res_bias, float *ring,
                   const int64_t *off, const int64_t *span, const int64_t *dil, float *x,
                   float *window, float *h, float *z)
{
    const int64_t G2 = G / 2, LG = L * G2, Km1 = KC / C - 1;
    const int64_t H = G2 / parts, f0 = part * H, g0 = G2 + part * H;  /* filter, gate columns */
    const int64_t hc = C / parts, c0 = part * hc;  /* residual columns */
    for (int64_t l = 0; l < L; l++) {
        const int64_t sp = span[l], d = dil[l];
        for (int64_t q = 0; q < nb; q++) {
            const int64_t at = (l * B + b0 + q) * G;
            const float *st = static_ + (l * Bs + (Bs > 1 ? b0 + q : 0)) * G;
            float *hq = h + q * G;
            const int64_t starts[2] = {f0, g0};  /* filter, gate */
            for (int k = 0; k < 2; k++) {
                const int64_t from = starts[k];
                copy(hq + from, st + from, H);
                if (has_local)
                    for (int64_t o = from; o < from + H; o++)
                        hq[o] += local[at + o];
                if (has_features)
                    for (int64_t o = from; o < from + H; o++)
                        hq[o] += fbias[(q * L + l) * G + o];
            }
            float *aq = window + q * KC;
            for (int64_t j = 0; j < Km1; j++)
                copy(aq + j * C, ring + off[l] + (((t + j * d) % sp) * B + b0 + q) * C, C);
            copy(aq + Km1 * C, x + q * C, C);
        }
        if (parts > 1) {  /* the part's filter and gate columns, whole panels each */
            product(format, nb, H, KC, window, KC, taps, l * KC * G, f0, G, h + f0, G);
            product(format, nb, H, KC, window, KC, taps, l * KC * G, g0, G, h + g0, G);
        } else {  /* one product: G / 2 need not be whole panels */
            product(format, nb, G, KC, window, KC, taps, l * KC * G, 0, G, h, G);
        }
        for (int64_t q = 0; q < nb; q++)
            gate(H, h + q * G + f0, h + q * G + g0, z + q * LG + l * G2 + f0);
        if (parts > 1)
            pair_sync(flags, part);  /* z's halves; both threads are past reading ring and x */
        if (sp > 0)
            for (int64_t q = 0; q < nb; q++)
                copy(ring + off[l] + ((t % sp) * B + b0 + q) * C + c0, x + q * C + c0, hc);
        if (l < L - 1) {
            product(format, nb, hc, G2, z + l * G2, LG, res, l * G2 * C, c0, C, x + c0, C);
            for (int64_t q = 0; q < nb; q++)
                for (int64_t c = c0; c < c0 + hc; c++)
                    x[q * C + c] += res_bias[l * C + c];
            if (parts > 1)
                pair_sync(flags, part);  /* x's halves */
        }
    }
}

/* The numba engine's layer loop for a group of streams on one thread (see ``layers``). */
void wd_stack_step(int64_t format, int64_t nb, int64_t B, int64_t b0, int64_t t, int64_t L,
                   int64_t C, int64_t G, int64_t KC, const float *static_, int64_t Bs,
                   int64_t has_local, const float *local, int64_t has_features,
                   const float *fbias, const void *taps, const void *res,
                   const float *res_bias, float *ring, const int64_t *off, const int64_t *span,
                   const int64_t *dil, float *x, float *window, float *h, float *z)
{
    layers(0, 1, NULL, format, nb, B, b0, t, L, C, G, KC, static_, Bs, has_local, local,
           has_features, fbias, taps, res, res_bias, ring, off, span, dil, x, window, h, z);
}

/* ---- The same step shared by two threads, for a single stream ----
 *
 * At batch 1 a step is forty-odd small dependent products, and one core multiplies at about
 * two thirds of its FMA peak, so the engine can only go faster by sharing each step between the
 * two cores. wd_pair_step is entered by two threads at once (part 0 and 1), each computing half
 * of every product's columns (whole 16-column panels, by the same code as one thread, so the
 * results are bit for bit those of one thread) and half of the element-wise work:
 *
 *     x ready (meet)  ->  ``layers``: for each layer h[own filter and gate columns], the gate on
 *     them (z[own half]), meet, the ring write of x[own half], x[own half] += z @ res, meet
 *     ->  skip (own half), meet, out1, meet, out2 (own half of the logits), meet.
 *
 * A meeting (pair_sync) costs about 80 ns here, 2L + 3 a step (43 for 20 layers). The caller
 * then draws the sample from the whole logits on both threads (the same draw) and writes its
 * half of the next input's embedding into x. */

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Meet the other thread at a chunk's start. role[0] = 1: both came, run wd_pair_step; 0: the
 * other did not come within ``wait`` seconds (a thread pool that ran both parts on one
 * thread, say), so this one runs the chunk alone; -1: the other already did, nothing to do.
 * flags[16] counts arrivals (zeroed by the caller before each chunk, with the counters). */
void wd_pair_join(int64_t *flags, double wait, int64_t *role)
{
    int64_t *arrived = flags + 16;
    const int64_t before = __atomic_fetch_add(arrived, 1, __ATOMIC_ACQ_REL);
    if (before >= 100) {  /* the first went solo */
        role[0] = -1;
        return;
    }
    if (before == 1) {
        role[0] = 1;
        return;
    }
    const double until = seconds() + wait;
    for (;;) {
        if (__atomic_load_n(arrived, __ATOMIC_ACQUIRE) >= 2) {
            role[0] = 1;
            return;
        }
        if (seconds() > until) {
            int64_t one = 1;
            if (__atomic_compare_exchange_n(arrived, &one, 100, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                role[0] = 0;
                return;
            }
        }
        spin_pause();
    }
}

/* One step of stream 0 (B = 1), this thread's part of it: dims holds part (0 or 1), the time t,
 * L, C, G, K * C, S, O, the weights' format and has_local; the arrays are as wd_stack_step's,
 * and skip (L * G / 2, S), out1 (S, S), out2 (S, O) with their biases, the
 * output network's weights in the same packed format (1, 2 or 3). x (C,), z (L * G / 2), s, s1
 * (S) and the logits lg (O) are shared by both threads; window (K * C) and h (G) are each
 * thread's own. Needs G a multiple of 64 and C, S, O multiples of 32 (whole panels). */
void wd_pair_step(const int64_t *dims, const float *static_, const float *local,
                  const void *taps, const void *res, const float *res_bias, const void *skip,
                  const float *skip_bias, const void *out1, const float *out1_bias,
                  const void *out2, const float *out2_bias, float *ring, const int64_t *off,
                  const int64_t *span, const int64_t *dil, float *x, float *window, float *h,
                  float *z, float *s, float *s1, float *lg, int64_t *flags)
{
    const int64_t part = dims[0], t = dims[1], L = dims[2], C = dims[3], G = dims[4];
    const int64_t KC = dims[5], S = dims[6], O = dims[7], format = dims[8], has_local = dims[9];
    const int64_t LG = L * G / 2, hs = S / 2, s0 = part * hs, ho = O / 2, o0 = part * ho;
    pair_sync(flags, part);  /* both halves of x, the last step's embedding */
    layers(part, 2, flags, format, 1, 1, 0, t, L, C, G, KC, static_, 1, has_local, local, 0,
           NULL, taps, res, res_bias, ring, off, span, dil, x, window, h, z);
    copy(s + s0, skip_bias + s0, hs);
    product(format, 1, hs, LG, z, LG, skip, 0, s0, S, s + s0, S);
    for (int64_t o = s0; o < s0 + hs; o++)
        s[o] = s[o] < 0.0f ? 0.0f : s[o];  /* np.maximum(s, 0): -0 and NaN kept */
    pair_sync(flags, part);
    copy(s1 + s0, out1_bias + s0, hs);
    product(format, 1, hs, S, s, S, out1, 0, s0, S, s1 + s0, S);
    for (int64_t o = s0; o < s0 + hs; o++)
        s1[o] = s1[o] < 0.0f ? 0.0f : s1[o];
    pair_sync(flags, part);
    copy(lg + o0, out2_bias + o0, ho);
    product(format, 1, ho, S, s1, S, out2, 0, o0, O, lg + o0, O);
    pair_sync(flags, part);
}
