/* Small dense products for the numba engine: C[M, N] += A[M, K] @ B[K, N], row-major, with
 * leading dimensions. M is a handful of streams, K and N a layer's channels (tens to hundreds),
 * so A is read as it is; B, the weights, is read as it is (wd_gemm) or packed once in panels
 * of 16 columns (wd_gemm_packed).
 *
 * The accumulators of a block of C stay in vector registers for the whole K loop: a 6 x 16
 * block holds 12 vectors of 8 floats and costs, per k, two loads of B, six broadcasts of A and
 * twelve fused multiply-adds. A single row reads B in memory order, with independent
 * accumulators enough to hide the latency of the multiply-adds.
 *
 * Built by wavedil/native/kernel.py with the system C compiler (-O3 -march=native); written
 * with GCC vector extensions, so it compiles for any target GCC or clang supports. */

#include <stdint.h>
#include <string.h>

#include "vec8.h"

/* Weights in bfloat16 (the upper 16 bits of a float32, as ``native.to_bf16`` rounds them), for
 * the compact-weight mode: half the bytes to read, widened to floats in registers before the
 * same float32 multiply-adds. The layout is wd_gemm_packed's in 16-bit elements, with each panel
 * row of 16 interleaved by ``native.pack_bf16``: 32-bit word j holds column j in its low half and
 * column j + 8 in its high half, so one 32-byte load gives the row with a shift and a mask. */
typedef uint32_t u8 __attribute__((vector_size(32)));
typedef uint32_t u8u __attribute__((vector_size(32), aligned(2), may_alias));

/* Row k of a 16-column block of B into two vectors: float32 with leading dimension ldb, or
 * (bf16, a constant at every call, so the branch compiles away) a bf16 panel row. */
static inline __attribute__((always_inline)) void
row16(const int bf16, const void *B, int64_t k, int64_t ldb, v8 *b0, v8 *b1)
{
    if (bf16) {
        u8 w = *(const u8u *)((const uint16_t *)B + k * 16);
        *b0 = (v8)(w << 16);  /* columns 0..7 */
        *b1 = (v8)(w & (u8){0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u,
                            0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u});  /* 8..15 */
    } else {
        const float *b = (const float *)B + k * ldb;
        *b0 = LD(b);
        *b1 = LD(b + 8);
    }
}

/* A block of R rows (R <= 6) x 16 columns of C: 2R accumulators in vector registers for the
 * whole K loop. R is a constant at every call, so the compiler unrolls the row loops and keeps
 * the arrays in registers. */
static inline __attribute__((always_inline)) void
block_rx16(const int R, const int bf16, int64_t K, const float *A, int64_t lda, const void *B,
           int64_t ldb, float *C, int64_t ldc)
{
    v8 c0[6], c1[6];
    for (int r = 0; r < R; r++) {
        c0[r] = LD(C + r * ldc);
        c1[r] = LD(C + r * ldc + 8);
    }
    for (int64_t k = 0; k < K; k++) {
        v8 b0, b1;
        row16(bf16, B, k, ldb, &b0, &b1);
        for (int r = 0; r < R; r++) {
            v8 a = splat(A[r * lda + k]);
            c0[r] += a * b0;
            c1[r] += a * b1;
        }
    }
    for (int r = 0; r < R; r++) {
        ST(C + r * ldc, c0[r]);
        ST(C + r * ldc + 8, c1[r]);
    }
}

static void block6x16(int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float *C, int64_t ldc)
{
    block_rx16(6, 0, K, A, lda, B, ldb, C, ldc);
}

static void block4x16(int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float *C, int64_t ldc)
{
    block_rx16(4, 0, K, A, lda, B, ldb, C, ldc);
}

/* One row of C, N a multiple of 8: B is read in memory order, four rows at a time, which
 * suits a product bound by reading B (a single stream reads every weight once per step). */
static void rows(int64_t K, int64_t N, const float *A, const float *B, int64_t ldb, float *C)
{
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        v8 a0 = splat(A[k]), a1 = splat(A[k + 1]), a2 = splat(A[k + 2]), a3 = splat(A[k + 3]);
        const float *b = B + k * ldb;
        for (int64_t n = 0; n < N; n += 8)
            ST(C + n, LD(C + n) + ((a0 * LD(b + n) + a1 * LD(b + ldb + n))
                                   + (a2 * LD(b + 2 * ldb + n) + a3 * LD(b + 3 * ldb + n))));
    }
    for (; k < K; k++) {
        v8 a = splat(A[k]);
        const float *b = B + k * ldb;
        for (int64_t n = 0; n < N; n += 8)
            ST(C + n, LD(C + n) + a * LD(b + n));
    }
}

static void block1x8(int64_t K, const float *A, const float *B, int64_t ldb, float *C)
{
    v8 c0 = LD(C), c1 = splat(0.0f);  /* two chains: even and odd k */
    int64_t k = 0;
    for (; k + 2 <= K; k += 2) {
        c0 += splat(A[k]) * LD(B + k * ldb);
        c1 += splat(A[k + 1]) * LD(B + (k + 1) * ldb);
    }
    if (k < K)
        c0 += splat(A[k]) * LD(B + k * ldb);
    ST(C, c0 + c1);
}

static void gemm_panel(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float *C, int64_t ldc)
{
    int64_t n = 0;
    if (M >= 4) {
        for (; n + 16 <= N; n += 16) {
            int64_t m = 0;
            for (; m + 6 <= M && M - m != 8; m += 6)
                block6x16(K, A + m * lda, lda, B + n, ldb, C + m * ldc + n, ldc);
            for (; m + 4 <= M; m += 4)
                block4x16(K, A + m * lda, lda, B + n, ldb, C + m * ldc + n, ldc);
            for (; m < M; m++) {
                block1x8(K, A + m * lda, B + n, ldb, C + m * ldc + n);
                block1x8(K, A + m * lda, B + n + 8, ldb, C + m * ldc + n + 8);
            }
        }
    } else {
        for (int64_t m = 0; m < M; m++)
            rows(K, N - N % 8, A + m * lda, B, ldb, C + m * ldc);
        n = N - N % 8;
    }
    for (; n + 8 <= N; n += 8)
        for (int64_t m = 0; m < M; m++)
            block1x8(K, A + m * lda, B + n, ldb, C + m * ldc + n);
    for (; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            float acc = C[m * ldc + n];
            for (int64_t k = 0; k < K; k++)
                acc += A[m * lda + k] * B[k * ldb + n];
            C[m * ldc + n] = acc;
        }
}

/* Blocks of KB rows of B: a 16-column panel of them (KB * 64 bytes) stays in the L1 cache
 * while every row block of A passes over it. */
#define KB 256

void wd_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
             int64_t ldb, float *C, int64_t ldc)
{
    for (int64_t k = 0; k < K; k += KB)
        gemm_panel(M, N, K - k < KB ? K - k : KB, A + k, lda, B + k * ldb, ldb, C, ldc);
}

/* ---- The first n (< 16) columns of a product, as wd_gemm sums them ----
 *
 * The effect engine runs every product over whole 16-column blocks so that no value depends on
 * where it stands in a block (effect/kernels.py's PANEL). A block of 1 to 15 samples then pays
 * for 16 columns. wd_gemm_narrow computes only the first n columns of C += A @ B, each
 * summed in the order gemm_panel sums a column inside a 16-column block, bit for bit:
 *
 * - M >= 4, the rows of 6- and 4-row blocks: one chain of multiply-adds per element, k in
 *   order (block_rx16). Eight rows go in one vector, read from AT, A transposed ((K, M),
 *   contiguous), so a column costs K / 8 of the vector multiply-adds a 16-column block costs.
 * - M >= 4, the rows left over: two chains, even and odd k, joined at the end (block1x8).
 * - M < 4: four products per step of k, grouped as rows() groups them.
 *
 * Where a row is computed alone, it is computed by the same vector expressions as the panels'
 * code with the column in lane 0, so that the compiler fuses and orders its operations as it
 * does theirs (a scalar loop of two chains, say, it may compile otherwise).
 *
 * K runs in blocks of KB rows as wd_gemm runs it (the two-chain and grouped sums restart at
 * each block). */
static void narrow_panel(int64_t M, int64_t n, int64_t K, const float *A, int64_t lda,
                         const float *AT, int64_t ldat, const float *B, int64_t ldb, float *C,
                         int64_t ldc)
{
    if (M < 4) {
        for (int64_t m = 0; m < M; m++) {
            const float *a = A + m * lda;
            for (int64_t j = 0; j < n; j++) {  /* rows()'s vector code, the column in lane 0 */
                v8 c = {C[m * ldc + j]};
                int64_t k = 0;
                for (; k + 4 <= K; k += 4) {
                    const float *b = B + k * ldb + j;
                    c = c + ((splat(a[k]) * (v8){b[0]} + splat(a[k + 1]) * (v8){b[ldb]})
                             + (splat(a[k + 2]) * (v8){b[2 * ldb]}
                                + splat(a[k + 3]) * (v8){b[3 * ldb]}));
                }
                for (; k < K; k++)
                    c = c + splat(a[k]) * (v8){B[k * ldb + j]};
                C[m * ldc + j] = c[0];
            }
        }
        return;
    }
    int64_t blocked = 0;  /* rows summed in 6- and 4-row blocks, as gemm_panel splits them */
    while (blocked + 6 <= M && M - blocked != 8)
        blocked += 6;
    while (blocked + 4 <= M)
        blocked += 4;
    for (int64_t j = 0; j < n; j++) {
        int64_t m = 0;
        for (; m + 8 <= blocked; m += 8) {
            v8 c;
            for (int r = 0; r < 8; r++)
                c[r] = C[(m + r) * ldc + j];
            for (int64_t k = 0; k < K; k++)
                c += LD(AT + k * ldat + m) * splat(B[k * ldb + j]);
            for (int r = 0; r < 8; r++)
                C[(m + r) * ldc + j] = c[r];
        }
        for (; m < blocked; m++) {  /* the same chain, one row in lane 0 */
            v8 c = {C[m * ldc + j]};
            for (int64_t k = 0; k < K; k++)
                c += (v8){AT[k * ldat + m]} * splat(B[k * ldb + j]);
            C[m * ldc + j] = c[0];
        }
        for (; m < M; m++) {  /* block1x8's vector code, the column in lane 0: a scalar
                                 * loop of two chains may be compiled otherwise */
            const float *a = A + m * lda;
            v8 c0 = {C[m * ldc + j]}, c1 = splat(0.0f);
            int64_t k = 0;
            for (; k + 2 <= K; k += 2) {
                c0 += splat(a[k]) * (v8){B[k * ldb + j]};
                c1 += splat(a[k + 1]) * (v8){B[(k + 1) * ldb + j]};
            }
            if (k < K)
                c0 += splat(a[k]) * (v8){B[k * ldb + j]};
            C[m * ldc + j] = (c0 + c1)[0];
        }
    }
}

/* C[:, :n] += A @ B[:, :n], n < 16, equal bit for bit to those columns of wd_gemm's product
 * over 16 or more (see narrow_panel); AT is A transposed, (K, M) contiguous. */
void wd_gemm_narrow(int64_t M, int64_t n, int64_t K, const float *A, int64_t lda,
                    const float *AT, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    for (int64_t k = 0; k < K; k += KB)
        narrow_panel(M, n, K - k < KB ? K - k : KB, A + k, lda, AT + k * M, M, B + k * ldb, ldb,
                     C, ldc);
}

/* ---- A dilated convolution's taps as one product (the effect engine) ----
 *
 * C[M, N] += sum over taps t < T of A_t @ B[:, t * d : t * d + N], A_t = A + t * M * K
 * ((M, K) row-major), B's rows ldb apart, N a multiple of 16: equal bit for bit to T calls of
 * wd_gemm in tap order. The rows gemm_panel sums in 6- and 4-row blocks (one chain of
 * multiply-adds per element, k in order) go on in one chain over the taps here, so their
 * accumulators stay in registers across the taps: tiles of TR rows x TC columns, in vectors as
 * wide as the machine's (AVX-512: 4 rows x 64 columns, the fastest of 16 x 16, 8 x 32, 12 x 32,
 * 4 x 64 and 6 x 64 for NAM's standard and lite models at blocks of 16 and 64 on a Xeon; else
 * 6 x 16, gemm_panel's own). A tile narrower than TC takes a block's last columns. The
 * rows it sums otherwise (block1x8's two chains; rows() where M < 4) take the per-tap calls. */
#if defined(__AVX512F__)
typedef float vw __attribute__((vector_size(64)));
typedef float vwu __attribute__((vector_size(64), aligned(4), may_alias));
#define TW 16
#ifndef TR
#define TR 4
#endif
#ifndef TC
#define TC 64
#endif
#else
typedef v8 vw;
typedef v8u vwu;
#define TW 8
#ifndef TR
#define TR 6
#endif
#ifndef TC
#define TC 16
#endif
#endif
#define TP (TC / TW)  /* vectors per tile row */

static inline __attribute__((always_inline)) void
taps_tile(const int R, const int P, int64_t M, int64_t K, int64_t T, int64_t d, const float *A,
          const float *B, int64_t ldb, float *C, int64_t ldc)
{
    vw c[TR][TP];
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++)
            c[r][p] = *(const vwu *)(C + r * ldc + p * TW);
    for (int64_t t = 0; t < T; t++) {
        const float *a = A + t * M * K;
        const float *b = B + t * d;
        for (int64_t k = 0; k < K; k++) {
            vw bk[TP];
            for (int p = 0; p < P; p++)
                bk[p] = *(const vwu *)(b + k * ldb + p * TW);
            for (int r = 0; r < R; r++) {
                vw ar = (vw){} + a[r * K + k];
                for (int p = 0; p < P; p++)
                    c[r][p] += ar * bk[p];
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++)
            *(vwu *)(C + r * ldc + p * TW) = c[r][p];
}

/* taps_tile with R (1 .. TR) and P (1 .. TP) as constants */
static void taps_rows(int64_t R, int64_t P, int64_t M, int64_t K, int64_t T, int64_t d,
                      const float *A, const float *B, int64_t ldb, float *C, int64_t ldc)
{
#define TAPS_P(r, p)                                                                 \
    if (P == p) {                                                                    \
        taps_tile(r, p, M, K, T, d, A, B, ldb, C, ldc);                              \
        return;                                                                      \
    }
#if TP >= 4
#define TAPS_CASE(r) case r: TAPS_P(r, 1) TAPS_P(r, 2) TAPS_P(r, 3) TAPS_P(r, 4) return;
#elif TP >= 2
#define TAPS_CASE(r) case r: TAPS_P(r, 1) TAPS_P(r, 2) return;
#else
#define TAPS_CASE(r) case r: TAPS_P(r, 1) return;
#endif
    switch (R) {
        TAPS_CASE(1) TAPS_CASE(2) TAPS_CASE(3) TAPS_CASE(4)
#if TR > 4
        TAPS_CASE(5) TAPS_CASE(6)
#endif
#if TR > 6
        TAPS_CASE(7) TAPS_CASE(8)
#endif
#if TR > 8
        TAPS_CASE(9) TAPS_CASE(10) TAPS_CASE(11) TAPS_CASE(12)
#endif
#if TR > 12
        TAPS_CASE(13) TAPS_CASE(14) TAPS_CASE(15) TAPS_CASE(16)
#endif
    }
#undef TAPS_CASE
#undef TAPS_P
}

void wd_gemm_taps(int64_t M, int64_t N, int64_t K, int64_t T, int64_t d, const float *A,
                  const float *B, int64_t ldb, float *C, int64_t ldc)
{
    int64_t blocked = 0;  /* rows gemm_panel sums in 6- and 4-row blocks */
    if (M >= 4) {
        while (blocked + 6 <= M && M - blocked != 8)
            blocked += 6;
        while (blocked + 4 <= M)
            blocked += 4;
    }
    for (int64_t n = 0; n < N; n += TC) {
        const int64_t P = N - n >= TC ? TP : (N - n) / TW;  /* the last tile may be narrower */
        for (int64_t m = 0; m < blocked; m += TR)
            taps_rows(blocked - m < TR ? blocked - m : TR, P, M, K, T, d, A + m * K, B + n, ldb,
                      C + m * ldc + n, ldc);
    }
    if (blocked == M)
        return;
    for (int64_t t = 0; t < T; t++) {  /* the other rows, as wd_gemm sums them, tap by tap */
        const float *a = A + t * M * K, *b = B + t * d;
        if (blocked == 0) {
            wd_gemm(M, N, K, a, K, b, ldb, C, ldc);
            continue;
        }
        for (int64_t k = 0; k < K; k += KB) {
            const int64_t kb = K - k < KB ? K - k : KB;
            for (int64_t m = blocked; m < M; m++)
                for (int64_t n = 0; n < N; n += 8)
                    block1x8(kb, a + m * K + k, b + k * ldb + n, ldb, C + m * ldc + n);
        }
    }
}

/* The same product with B packed in panels of 16 columns: panel p, a contiguous (K, 16)
 * block at B + p * K * 16, holds columns 16p .. 16p + 15, so every block reads B in memory
 * order. N must be a multiple of 16; ldb is ignored. */
static inline __attribute__((always_inline)) void
panel1x16(const int bf16, int64_t K, const float *A, const void *B, float *C)
{
    v8 c0 = LD(C), c1 = LD(C + 8);
    v8 d0 = splat(0.0f), d1 = d0, e0 = d0, e1 = d0, f0 = d0, f1 = d0;
    v8 l0, h0, l1, h1, l2, h2, l3, h3;
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {  /* four chains of multiply-adds: their latency overlaps */
        v8 a0 = splat(A[k]), a1 = splat(A[k + 1]), a2 = splat(A[k + 2]), a3 = splat(A[k + 3]);
        row16(bf16, B, k, 16, &l0, &h0);
        row16(bf16, B, k + 1, 16, &l1, &h1);
        row16(bf16, B, k + 2, 16, &l2, &h2);
        row16(bf16, B, k + 3, 16, &l3, &h3);
        c0 += a0 * l0; c1 += a0 * h0;
        d0 += a1 * l1; d1 += a1 * h1;
        e0 += a2 * l2; e1 += a2 * h2;
        f0 += a3 * l3; f1 += a3 * h3;
    }
    for (; k < K; k++) {
        v8 a = splat(A[k]);
        row16(bf16, B, k, 16, &l0, &h0);
        c0 += a * l0; c1 += a * h0;
    }
    ST(C, (c0 + d0) + (e0 + f0));
    ST(C + 8, (c1 + d1) + (e1 + f1));
}

/* The packed products, B in float32 or bf16 (a constant at every call), its panels of
 * ``height`` rows (>= K: B may start some rows into them). */
static inline __attribute__((always_inline)) void
gemm_packed(const int bf16, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
            const void *B, int64_t height, float *C, int64_t ldc)
{
    const int64_t size = bf16 ? 2 : 4;  /* bytes per element of B */
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
        int64_t kb = K - k0 < KB ? K - k0 : KB;
        for (int64_t n = 0; n < N; n += 16) {
            const void *panel = (const char *)B + (n * height + k0 * 16) * size;
            int64_t m = 0;
            if (M >= 4) {
                for (; m + 6 <= M && M - m != 8; m += 6)
                    block_rx16(6, bf16, kb, A + m * lda + k0, lda, panel, 16, C + m * ldc + n, ldc);
                for (; m + 4 <= M; m += 4)
                    block_rx16(4, bf16, kb, A + m * lda + k0, lda, panel, 16, C + m * ldc + n, ldc);
            }
            for (; m < M; m++)
                panel1x16(bf16, kb, A + m * lda + k0, panel, C + m * ldc + n);
        }
    }
}

void wd_gemm_packed(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc)
{
    (void)ldb;
    gemm_packed(0, M, N, K, A, lda, B, K, C, ldc);
}

/* The same with B in bfloat16, laid out by native.pack_bf16 (see row16). */
void wd_gemm_packed_bf16(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const void *B, int64_t ldb, float *C, int64_t ldc)
{
    (void)ldb;
    gemm_packed(1, M, N, K, A, lda, B, K, C, ldc);
}

/* ---- Products in bfloat16 on both sides (the "bf16-dot" weights) ----
 *
 * Where the CPU has AVX512-BF16 (Zen 4, recent Xeons), VDPBF16PS multiplies 16 pairs of
 * bfloat16 and adds both products of each pair to a float32 lane: twice the multiply-adds of a
 * float32 FMA per instruction (benchmarks/machine.py: 224 against 97 GFLOP/s on one core), but
 * both operands must be bfloat16. So this product rounds A's rows to bfloat16 too (to nearest, ties
 * to even, as native.to_bf16) and accumulates in float32.
 *
 * B, in bfloat16, is laid out by ``native.pack_pairs`` in the 16-column panels of
 * wd_gemm_packed (panel p, K x 16 elements, at B + p * K * 16), each panel as K / 2 rows of 16
 * 32-bit words: word j of pair row i holds column j of B's rows 2i (low half) and 2i + 1
 * (high half). K must be even. A block of up to RB rows of A is rounded once into the same
 * pairs (P) and read by every panel.
 *
 * Without AVX512-BF16 (wd_gemm_dot_native() == 0) B is laid out by ``native.pack_bf16``
 * instead, and the block of A, rounded but kept as float32, goes through wd_gemm_packed_bf16's
 * kernel: the same values multiplied, the sums in another order. */

#if defined(__AVX512BF16__) && defined(__AVX512F__)
#define WD_DOT 1
#include <immintrin.h>
#else
#define WD_DOT 0
#endif

#define RB 16

/* A block of A's rows as the products read it: bfloat16 pairs, or rounded float32 values */
#if WD_DOT
typedef uint32_t rows_t;
#else
typedef float rows_t;
#endif

int64_t wd_gemm_dot_native(void) { return WD_DOT; }

/* float32 -> bfloat16 bits, to nearest, ties to even (native.to_bf16) */
static inline uint32_t bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

#if WD_DOT
/* R rows (R <= RB) of kb (even, <= KB) columns of A -> P, row r at P + r * KB / 2: word i
 * holds A[r, 2i] (low half) and A[r, 2i + 1] (high half) in bfloat16. */
static void to_pairs(int64_t R, int64_t kb, const float *A, int64_t lda, rows_t *P)
{
    for (int64_t r = 0; r < R; r++) {
        const float *a = A + r * lda;
        uint32_t *p = P + r * (KB / 2);
        int64_t k = 0;
        for (; k + 32 <= kb; k += 32)
            _mm512_storeu_si512(p + k / 2, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(a + k + 16),
                                                                       _mm512_loadu_ps(a + k)));
        for (; k < kb; k += 2)
            p[k / 2] = bf16_bits(a[k]) | bf16_bits(a[k + 1]) << 16;
    }
}
#else
/* The same rows rounded to bfloat16 but kept as float32, row r at P + r * KB */
static void to_pairs(int64_t R, int64_t kb, const float *A, int64_t lda, rows_t *P)
{
    for (int64_t r = 0; r < R; r++)
        for (int64_t k = 0; k < kb; k++) {
            uint32_t u = bf16_bits(A[r * lda + k]) << 16;
            memcpy(P + r * KB + k, &u, sizeof u);
        }
}
#endif

#if WD_DOT
/* R rows (R <= 8) x 16 columns of C += P's rows . a panel's np pair rows: R accumulators */
static inline __attribute__((always_inline)) void
dot_rx16(const int R, int64_t np, const uint32_t *P, const uint32_t *B, float *C, int64_t ldc)
{
    __m512 c[8];
    for (int r = 0; r < R; r++)
        c[r] = _mm512_loadu_ps(C + r * ldc);
    for (int64_t i = 0; i < np; i++) {
        __m512bh b = (__m512bh)_mm512_loadu_si512(B + i * 16);
        for (int r = 0; r < R; r++)
            c[r] = _mm512_dpbf16_ps(c[r], (__m512bh)_mm512_set1_epi32((int)P[r * (KB / 2) + i]), b);
    }
    for (int r = 0; r < R; r++)
        _mm512_storeu_ps(C + r * ldc, c[r]);
}

/* One row: four chains over the pair rows, so that the multiply-adds' latency overlaps */
static void dot_1x16(int64_t np, const uint32_t *P, const uint32_t *B, float *C)
{
    __m512 c0 = _mm512_loadu_ps(C), c1 = _mm512_setzero_ps(), c2 = c1, c3 = c1;
    int64_t i = 0;
    for (; i + 4 <= np; i += 4) {
        c0 = _mm512_dpbf16_ps(c0, (__m512bh)_mm512_set1_epi32((int)P[i]),
                              (__m512bh)_mm512_loadu_si512(B + i * 16));
        c1 = _mm512_dpbf16_ps(c1, (__m512bh)_mm512_set1_epi32((int)P[i + 1]),
                              (__m512bh)_mm512_loadu_si512(B + (i + 1) * 16));
        c2 = _mm512_dpbf16_ps(c2, (__m512bh)_mm512_set1_epi32((int)P[i + 2]),
                              (__m512bh)_mm512_loadu_si512(B + (i + 2) * 16));
        c3 = _mm512_dpbf16_ps(c3, (__m512bh)_mm512_set1_epi32((int)P[i + 3]),
                              (__m512bh)_mm512_loadu_si512(B + (i + 3) * 16));
    }
    for (; i < np; i++)
        c0 = _mm512_dpbf16_ps(c0, (__m512bh)_mm512_set1_epi32((int)P[i]),
                              (__m512bh)_mm512_loadu_si512(B + i * 16));
    _mm512_storeu_ps(C, _mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)));
}

/* R rows (R <= 8) x two panels (32 columns): per pair row two loads of B for 2R
 * multiply-adds, against one for R in dot_rx16, so that the loads of B and the broadcasts of
 * P do not hold back the dot products; each column's sum runs over the pair rows in the same
 * order as in dot_rx16, so the results are the same bit for bit. */
static inline __attribute__((always_inline)) void
dot_rx32(const int R, int64_t np, const uint32_t *P, const uint32_t *B0, const uint32_t *B1,
         float *C, int64_t ldc)
{
    __m512 c0[8], c1[8];
    for (int r = 0; r < R; r++) {
        c0[r] = _mm512_loadu_ps(C + r * ldc);
        c1[r] = _mm512_loadu_ps(C + r * ldc + 16);
    }
    for (int64_t i = 0; i < np; i++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(B0 + i * 16);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(B1 + i * 16);
        for (int r = 0; r < R; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)P[r * (KB / 2) + i]);
            c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_storeu_ps(C + r * ldc, c0[r]);
        _mm512_storeu_ps(C + r * ldc + 16, c1[r]);
    }
}

/* dot_panel over two adjacent panels at once (B1 the panel after B0): rows in the same
 * groups as dot_panel, a last single row by dot_1x16 on each panel */
static void dot_panel2(int64_t R, int64_t np, const uint32_t *P, const uint32_t *B0,
                       const uint32_t *B1, float *C, int64_t ldc)
{
    int64_t r = 0;
    for (; r + 8 <= R; r += 8)
        dot_rx32(8, np, P + r * (KB / 2), B0, B1, C + r * ldc, ldc);
    if (R - r >= 4) {
        dot_rx32(4, np, P + r * (KB / 2), B0, B1, C + r * ldc, ldc);
        r += 4;
    }
    if (R - r == 3)
        dot_rx32(3, np, P + r * (KB / 2), B0, B1, C + r * ldc, ldc);
    else if (R - r == 2)
        dot_rx32(2, np, P + r * (KB / 2), B0, B1, C + r * ldc, ldc);
    else if (R - r == 1) {
        dot_1x16(np, P + r * (KB / 2), B0, C + r * ldc);
        dot_1x16(np, P + r * (KB / 2), B1, C + r * ldc + 16);
    }
}

static void dot_panel(int64_t R, int64_t np, const uint32_t *P, const uint32_t *B, float *C,
                      int64_t ldc)
{
    int64_t r = 0;
    for (; r + 8 <= R; r += 8)
        dot_rx16(8, np, P + r * (KB / 2), B, C + r * ldc, ldc);
    if (R - r >= 4) {
        dot_rx16(4, np, P + r * (KB / 2), B, C + r * ldc, ldc);
        r += 4;
    }
    if (R - r == 3)
        dot_rx16(3, np, P + r * (KB / 2), B, C + r * ldc, ldc);
    else if (R - r == 2)
        dot_rx16(2, np, P + r * (KB / 2), B, C + r * ldc, ldc);
    else if (R - r == 1)
        dot_1x16(np, P + r * (KB / 2), B, C + r * ldc);
}
#endif

/* C[M, N] += bf16(A) @ B, B laid out by native.pack_pairs (or pack_bf16 without AVX512-BF16;
 * see above); N a multiple of 16, K even; ldb is ignored. */
void wd_gemm_packed_dot(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const void *B, int64_t ldb, float *C, int64_t ldc)
{
    (void)ldb;
    rows_t P[RB * KB];  /* A's rows (to_pairs; pairs fill half) */
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
        const int64_t kb = K - k0 < KB ? K - k0 : KB;
        for (int64_t m0 = 0; m0 < M; m0 += RB) {
            const int64_t R = M - m0 < RB ? M - m0 : RB;
            to_pairs(R, kb, A + m0 * lda + k0, lda, P);
#if WD_DOT
            int64_t n = 0;
            if (R > 1)  /* one row reads each weight once either way */
                for (; n + 32 <= N; n += 32) {
                    const uint16_t *b = (const uint16_t *)B + n * K + k0 * 16;
                    dot_panel2(R, kb / 2, P, (const uint32_t *)b,
                               (const uint32_t *)(b + 16 * K), C + m0 * ldc + n, ldc);
                }
            for (; n < N; n += 16)
                dot_panel(R, kb / 2, P, (const uint32_t *)((const uint16_t *)B + n * K + k0 * 16),
                          C + m0 * ldc + n, ldc);
#else
            gemm_packed(1, R, N, kb, P, KB, (const uint16_t *)B + k0 * 16, K, C + m0 * ldc, ldc);
#endif
        }
    }
}
